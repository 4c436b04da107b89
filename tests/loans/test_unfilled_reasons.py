"""Exact reasons for unfilled requests on hand-made instances: each accepted title gets its
own clause, and a copy taken by a competing request says whether it was already out or was
free and given to the competitor (issue #18: "reasons can mislead")."""

from __future__ import annotations

import pytest

from optimizer.loans import LoansInstance
from optimizer.loans import unfilled_reasons as reasons_module
from optimizer.loans.explain import unfilled

from .helpers import document, iso, run
from .test_rules import request, route


def explained(doc: dict) -> dict[str, tuple[str, str, list[str]]]:
    solution = run(doc)
    assert solution.verification.valid
    out = {e.subject: (e.code, e.detail, e.related) for e in solution.explanations}
    assert set(out) == set(solution.solution["unfilled"])
    return out


def test_regression_a_free_copy_given_to_an_equal_request_was_called_busy() -> None:
    # The western consortium's q00007 in small: the one copy comes on the shelf on day 10,
    # both requests weigh 2; qC is on time with it, qB would be 8 days late, so the plan
    # gives it to qC. The copy was not busy when qB could ship it: the plan chose.
    doc = document(
        ["A", "B", "C"],
        [{"id": "a1", "library": "A", "title": "T", "available_from": iso(10)}],
        [request("qB", "B", need=3, loan=20), request("qC", "C", need=14, loan=20, opened=5)],
        [route("A", "B", 1, 5.0), route("A", "C", 1, 5.0)],
        days=30,
    )
    for r in doc["requests"]:
        r["weight"] = 2.0
    code, detail, related = explained(doc)["qB"]
    assert code == "copies_given_to_others"
    assert related == ["qC"]
    # Late by k days costs 5 + 10 k: under 200 up to 19 days late, i.e. shipped by day 21.
    assert detail == (
        "every copy of T worth lending is taken: copy a1 from A was on the shelf on "
        f"{iso(10)}, the first day this request could ship it, but the plan gives it to qC "
        f"(weight 2, the same as this request's) from {iso(10)} until {iso(32)}; shipped "
        f"after {iso(21)} it would cost at least the penalty 200"
    )


def test_a_copy_already_out_when_the_request_opens_is_busy() -> None:
    doc = document(
        ["A", "B", "C"],
        [{"id": "a1", "library": "A", "title": "T"}],
        [request("qB", "B", need=6, loan=10, opened=5), request("qC", "C", need=3, loan=10)],
        [route("A", "B", 1, 5.0), route("A", "C", 1, 5.0)],
        days=30,
        late_per_day=20.0,
    )
    doc["requests"][1]["weight"] = 2.0
    code, detail, related = explained(doc)["qB"]
    assert code == "all_copies_busy"
    assert related == ["qC"]
    # Late by k days costs 5 + 20 k: under 100 up to 4 days late, i.e. shipped by day 9.
    assert detail == (
        "every copy of T worth lending is taken: copy a1 from A was already out when this "
        f"request could first ship it on {iso(5)}, lent to qC from {iso(0)} until {iso(12)}; "
        f"shipped after {iso(9)} it would cost at least the penalty 100"
    )


def test_a_request_accepting_two_titles_names_both() -> None:
    doc = document(
        ["A", "B"],
        [{"id": "a1", "library": "A", "title": "T", "lendable": False}],
        [request("qB", "B", need=3, loan=5)],
        [route("A", "B", 1, 5.0)],
    )
    doc["requests"][0]["titles"] = ["X", "T"]
    code, detail, related = explained(doc)["qB"]
    assert code == "several_reasons"
    assert detail == (
        "no library in the consortium holds X; every copy of T elsewhere (A) is marked not lendable"
    )
    assert related == ["A"]


def test_two_titles_with_the_same_reason_keep_its_code() -> None:
    doc = document(
        ["A", "B", "C"],
        [
            {"id": "a1", "library": "A", "title": "T"},
            {"id": "c1", "library": "C", "title": "U"},
        ],
        [request("qB", "B", need=3, loan=5)],
        [route("A", "C", 1, 5.0)],
    )
    doc["requests"][0]["titles"] = ["T", "U"]
    code, detail, related = explained(doc)["qB"]
    assert code == "no_route"
    assert detail == (
        "no shipping route links B with A, the libraries holding T; "
        "no shipping route links B with C, the libraries holding U"
    )
    assert related == ["A", "C"]


def test_arrives_too_late_quotes_the_earliest_arrival_and_the_cheapest_loan() -> None:
    # c1 ships at once but takes 5 days; a1 is faster but on the shelf only from day 3.
    doc = document(
        ["A", "B", "C"],
        [
            {"id": "a1", "library": "A", "title": "T", "available_from": iso(3)},
            {"id": "c1", "library": "C", "title": "T"},
        ],
        [request("qB", "B", need=1, loan=5)],
        [route("A", "B", 1, 40.0), route("C", "B", 5, 5.0)],
        late_per_day=30.0,
    )
    code, detail, related = explained(doc)["qB"]
    assert code == "arrives_too_late"
    # a1: arrives day 4, 3 days late, 40 + 90 = 130; c1: arrives day 5, 5 + 120 = 125.
    assert detail == (
        f"the earliest a copy of T can arrive is {iso(4)} (copy a1 from A), 3 days after "
        f"needed_by {iso(1)}; the cheapest loan (copy c1 from C) would cost 125 in shipping "
        "and lateness, not less than the unfilled penalty 100"
    )
    assert related == ["C"]


def test_keep_one_on_shelf_names_the_copy() -> None:
    doc = document(
        ["A", "B"],
        [{"id": "a1", "library": "A", "title": "T"}],
        [request("qB", "B", need=3, loan=5)],
        [route("A", "B", 1, 5.0)],
        keep_one_on_shelf=True,
    )
    code, detail, _ = explained(doc)["qB"]
    assert code == "keep_one_on_shelf"
    assert detail == (
        "every copy of T worth lending is taken: copy a1 from A: whenever it is free, lending it "
        "would leave A without a copy of T on its shelf"
    )


def test_copies_blocked_for_different_causes_are_each_named() -> None:
    # C is at its max_outgoing; A's copy is out for qD, which asked first and weighs more.
    doc = document(
        ["A", "B", {"id": "C", "max_outgoing": 0}, "D"],
        [
            {"id": "a1", "library": "A", "title": "T"},
            {"id": "c1", "library": "C", "title": "T"},
        ],
        [request("qB", "B", need=6, loan=10, opened=5), request("qD", "D", need=3, loan=10)],
        [route("A", "B", 1, 5.0), route("C", "B", 1, 5.0), route("A", "D", 1, 5.0)],
        late_per_day=20.0,
    )
    doc["requests"][1]["weight"] = 2.0
    code, detail, related = explained(doc)["qB"]
    assert code == "all_candidates_blocked"
    assert "copy c1 from C: C already ships its max_outgoing 0" in detail
    assert f"copy a1 from A was already out when this request could first ship it on {iso(5)}" in (
        detail
    )
    assert related == ["C", "qD"]


def test_the_courier_hook_turns_a_route_without_runs_into_its_own_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = document(
        ["A", "B", "C"],
        [
            {"id": "a1", "library": "A", "title": "T"},
            {"id": "c1", "library": "C", "title": "T"},
        ],
        [request("qB", "B", need=3, loan=5)],
        [route("A", "B", 1, 5.0), route("C", "B", 1, 5.0)],
    )
    monkeypatch.setattr(reasons_module, "courier_missing", lambda instance, lender, b: True)
    (why,) = unfilled(LoansInstance.model_validate(doc), {"loans": [], "unfilled": ["qB"]})
    assert why.code == "no_courier"
    assert why.detail == (
        "routes link B with A, C, the libraries holding T, but no courier runs both ways between them"
    )
    assert why.related == ["A", "C"]
