"""Every unfilled request gets a reason, and the reason names what is in the way."""

from __future__ import annotations

import pytest

from .helpers import document, iso, run
from .test_rules import request, route


def reasons(doc: dict) -> dict[str, tuple[str, str, list[str]]]:
    solution = run(doc)
    assert solution.verification.valid
    out = {e.subject: (e.code, e.detail, e.related) for e in solution.explanations}
    assert set(out) == set(solution.solution["unfilled"])
    return out


def base(**changes) -> dict:
    doc = document(
        [{"id": "A"}, "B", "C"],
        [{"id": "a1", "library": "A", "title": "T"}],
        [request("qB", "B", need=3, loan=10)],
        [route("A", "B", 1, 5.0), route("A", "C", 1, 5.0)],
        days=20,
    )
    doc.update(changes)
    return doc


def test_no_copy_anywhere() -> None:
    doc = base()
    doc["requests"][0]["titles"] = ["X"]
    assert reasons(doc)["qB"][0] == "no_copy"


def test_only_the_borrower_holds_it() -> None:
    doc = base()
    doc["copies"][0]["library"] = "B"
    assert reasons(doc)["qB"][0] == "no_copy_elsewhere"


def test_not_lendable() -> None:
    doc = base()
    doc["copies"][0]["lendable"] = False
    assert reasons(doc)["qB"][0] == "not_lendable"


def test_no_route() -> None:
    doc = base()
    doc["shipping"] = [route("A", "C", 1, 5.0)]
    code, _detail, related = reasons(doc)["qB"]
    assert code == "no_route" and related == ["A"]


def test_back_only_after_the_horizon() -> None:
    doc = base()
    doc["copies"][0]["available_from"] = iso(40)
    assert reasons(doc)["qB"][0] == "not_in_horizon"


def test_penalty_cheaper() -> None:
    doc = base()
    doc["shipping"][0]["cost"] = 150.0
    code, detail, _ = reasons(doc)["qB"]
    assert code == "penalty_cheaper"
    assert "150" in detail and "100" in detail


def test_a_copy_given_to_a_weightier_request_says_so_and_when_it_is_free() -> None:
    doc = base()
    doc["requests"].append(request("qC", "C", need=3, loan=10))
    doc["requests"][1]["weight"] = 3.0  # C's request matters more and takes the copy
    doc["penalties"]["late_per_day"] = 10.0  # waiting for it is dearer than the penalty
    code, detail, related = reasons(doc)["qB"]
    # The copy was on the shelf when qB could ship it: a choice, not a busy copy.
    assert code == "copies_given_to_others"
    assert related == ["qC"]
    # a1 ships day 0, away 1 + 10 + 1 days: home on day 12
    assert "a1" in detail and "weight 3, above this request's" in detail and iso(12) in detail


def test_lenders_at_max_outgoing() -> None:
    doc = base()
    doc["libraries"][0]["max_outgoing"] = 0
    code, _detail, related = reasons(doc)["qB"]
    assert code == "lenders_at_max_outgoing" and related == ["A"]


def test_max_imbalance() -> None:
    doc = base()
    doc["policies"]["max_imbalance"] = 0
    assert reasons(doc)["qB"][0] == "max_imbalance"


@pytest.mark.parametrize("seed", range(3))
def test_every_unfilled_request_is_explained_in_generated_instances(seed: int) -> None:
    from .helpers import random_document

    doc = random_document(seed, requests=10, copies=6, days=15)
    for solver in ("auto", "rota"):
        solution = run(doc, solver=solver)
        subjects = [e.subject for e in solution.explanations]
        assert sorted(subjects) == sorted(solution.solution["unfilled"])
        assert all(e.code != "not_chosen" for e in solution.explanations) or solver == "rota"


def test_a_plan_that_leaves_an_open_copy_is_told_which_copy() -> None:
    # Explanations read the plan they are given: an empty plan for a request that a free
    # copy could serve names that copy (the cheapest first) rather than blaming a rule.
    from optimizer.loans import LoansInstance
    from optimizer.loans.explain import unfilled

    doc = document(
        ["A", "B", "C"],
        [
            {"id": "far", "library": "C", "title": "T"},
            {"id": "near", "library": "A", "title": "T"},
        ],
        [request("q0", "B", need=10, loan=5)],
        [route("A", "B", 1, 5.0), route("C", "B", 1, 20.0)],
    )
    instance = LoansInstance.model_validate(doc)
    (why,) = unfilled(instance, {"loans": [], "unfilled": ["q0"]})
    assert why.code == "not_chosen"
    assert "copy near from A" in why.detail
    assert why.related == ["A"]
