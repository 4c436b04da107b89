"""Re-use of a copy over time, and each policy: a feasible case and a variant that changes
the answer, checked against the brute force where the instance is small enough."""

from __future__ import annotations

from collections import Counter

import pytest

from optimizer.core.envelope import Status

from .helpers import TOL, brute_force_objective, document, iso, run


def route(a: str, b: str, days: int, cost: float) -> dict:
    return {"from": a, "to": b, "days": days, "cost": cost}


def request(rid: str, lib: str, need: int, loan: int, title: str = "T", opened: int = 0) -> dict:
    return {
        "id": rid,
        "library": lib,
        "titles": [title],
        "requested_on": iso(opened),
        "needed_by": iso(need),
        "loan_days": loan,
    }


def reuse_document() -> dict:
    # One copy at A; C asks first (in list order), B's loan is the cheaper one to serve first.
    return document(
        ["A", "B", "C"],
        [{"id": "c1", "library": "A", "title": "T"}],
        [request("qC", "C", need=7, loan=4), request("qB", "B", need=3, loan=5)],
        [route("A", "B", 2, 10.0), route("A", "C", 1, 20.0)],
        days=30,
    )


def test_one_copy_serves_two_loans_one_after_the_other() -> None:
    # Hand-checked: qB ships day 0, arrives day 2 (on time), is home on day 0+2+5+2 = 9;
    # qC then ships day 9, arrives day 10, 3 days late: 10 + 20 + 5*3 = 45.
    # The other order costs 20 + 10 + 5*5 = 55 (qB would arrive on day 8, 5 days late).
    solution = run(reuse_document())
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(45.0, abs=TOL)
    loans = {x["request"]: x for x in solution.solution["loans"]}
    assert loans["qB"]["ship"] == iso(0) and loans["qB"]["home"] == iso(9)
    assert loans["qC"]["ship"] == iso(9)
    assert loans["qC"]["arrive"] == iso(10)
    assert loans["qC"]["due_back"] == iso(14)
    assert loans["qC"]["home"] == iso(15)
    assert loans["qC"]["late_days"] == 3
    assert {x["copy"] for x in loans.values()} == {"c1"}


def test_rota_serves_the_first_request_first() -> None:
    rota = run(reuse_document(), solver="rota")
    assert rota.verification.valid
    assert rota.objective == pytest.approx(55.0, abs=TOL)


def two_borrowers(**policy) -> dict:
    return document(
        [{"id": "A", "max_outgoing": policy.pop("max_outgoing", None)}, "B", "C", "D"],
        [
            {"id": "a1", "library": "A", "title": "T"},
            {"id": "a2", "library": "A", "title": "T", **policy.pop("a2", {})},
            {"id": "d1", "library": "D", "title": "T"},
        ],
        [request("qB", "B", need=3, loan=3), request("qC", "C", need=3, loan=3)],
        [
            route("A", "B", 1, 5.0),
            route("A", "C", 1, 5.0),
            route("D", "B", 1, 30.0),
            route("D", "C", 1, 30.0),
        ],
        days=8,
        **policy,
    )


def lenders(solution) -> Counter:
    return Counter(x["lender"] for x in solution.solution["loans"])


def test_max_outgoing() -> None:
    free = run(two_borrowers())
    assert free.objective == pytest.approx(10.0, abs=TOL)
    assert lenders(free) == {"A": 2}
    capped_doc = two_borrowers(max_outgoing=1)
    capped = run(capped_doc)
    assert capped.status == Status.OPTIMAL
    assert lenders(capped) == {"A": 1, "D": 1}
    assert capped.objective == pytest.approx(35.0, abs=TOL)
    assert capped.objective == pytest.approx(brute_force_objective(capped_doc), abs=TOL)


def test_keep_one_on_shelf() -> None:
    doc = two_borrowers(keep_one_on_shelf=True)
    kept = run(doc)
    assert kept.status == Status.OPTIMAL and kept.verification.valid
    # A may lend only one of its two copies at a time and D none of its single one. The
    # second loan waits for A's copy (home on day 5, arriving 3 days late: 5 + 15).
    assert lenders(kept) == {"A": 2}
    assert kept.objective == pytest.approx(5 + 5 + 15, abs=TOL)
    assert kept.objective == pytest.approx(brute_force_objective(doc), abs=TOL)
    doc["penalties"]["late_per_day"] = 40.0  # waiting now costs 5 + 120: leave one unfilled
    dear = run(doc)
    assert lenders(dear) == {"A": 1}
    assert len(dear.solution["unfilled"]) == 1
    assert dear.objective == pytest.approx(105.0, abs=TOL)
    assert dear.objective == pytest.approx(brute_force_objective(doc), abs=TOL)


def test_keep_one_on_shelf_waits_for_a_copy_to_come_home() -> None:
    doc = two_borrowers(keep_one_on_shelf=True)
    doc["copies"] = doc["copies"][:2]  # no copy at D: the second loan waits
    solution = run(doc)
    assert solution.verification.valid
    ships = sorted(x["ship"] for x in solution.solution["loans"])
    assert ships == [iso(0), iso(5)]  # away 1 + 3 + 1 days
    assert solution.objective == pytest.approx(brute_force_objective(doc), abs=TOL)


def test_max_imbalance() -> None:
    doc = document(
        ["A", "B"],
        [{"id": "a1", "library": "A", "title": "T"}, {"id": "b1", "library": "B", "title": "U"}],
        [request("qB", "B", need=5, loan=3)],
        [route("A", "B", 1, 5.0)],
        days=8,
    )
    assert run(doc).solution["unfilled"] == []
    doc["policies"]["max_imbalance"] = 0
    alone = run(doc)
    assert alone.solution["unfilled"] == ["qB"]
    assert alone.objective == pytest.approx(100.0, abs=TOL)
    # A request the other way balances the books: both are lent.
    doc["requests"].append(request("qA", "A", need=5, loan=3, title="U"))
    both = run(doc)
    assert both.solution["unfilled"] == []
    assert both.objective == pytest.approx(10.0, abs=TOL)
    assert both.kpis["loans_by_library"]["A"] == {"lent": 1, "received": 1, "balance": 0}


def test_lendable_false() -> None:
    doc = two_borrowers(a2={"lendable": False})
    doc["penalties"]["late_per_day"] = 20.0  # waiting for a1 to come home costs 60
    assert lenders(run(two_borrowers())) == {"A": 2}
    solution = run(doc)
    assert lenders(solution) == {"A": 1, "D": 1}
    assert "a2" not in {x["copy"] for x in solution.solution["loans"]}
    assert solution.objective == pytest.approx(brute_force_objective(doc), abs=TOL)


def test_available_from() -> None:
    doc = two_borrowers(a2={"available_from": iso(2)})
    doc["copies"] = doc["copies"][:2]
    solution = run(doc)
    loans = sorted(solution.solution["loans"], key=lambda x: x["ship"])
    assert [x["ship"] for x in loans] == [iso(0), iso(2)]
    assert [x["late_days"] for x in loans] == [0, 0]
    doc["copies"][1]["available_from"] = iso(5)
    later = run(doc)
    late = max(x["late_days"] for x in later.solution["loans"])
    assert late == 3  # ships day 5, arrives day 6, needed by day 3
    assert later.objective == pytest.approx(brute_force_objective(doc), abs=TOL)


def test_a_loan_may_wait_for_a_copy_coming_home_on_another_requests_first_day() -> None:
    # Regression: the day a loan comes home (day 5) was not offered to other requests when
    # it was also some request's earliest day, so C could not wait exactly until then.
    # One copy at L0, every route 1 day for 1.0. A ships day 0 and is home on day 5; C
    # (weight 2) then ships day 5 on time; B waits until C is home on day 10, 5 days late:
    # 1 + 1 + (1 + 25) = 28. Serving B first would make C 5 days late at weight 2: 53.
    doc = document(
        ["L0", "L1", "L2", "L3"],
        [{"id": "c", "library": "L0", "title": "T"}],
        [
            request("A", "L1", need=1, loan=3),
            request("B", "L3", need=6, loan=3, opened=5),
            {**request("C", "L2", need=6, loan=3, opened=3), "weight": 2.0},
        ],
        [route("L0", x, 1, 1.0) for x in ("L1", "L2", "L3")],
        days=15,
    )
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    ships = {x["request"]: x["ship"] for x in solution.solution["loans"]}
    assert ships == {"A": iso(0), "C": iso(5), "B": iso(10)}
    assert solution.objective == pytest.approx(28.0, abs=TOL)
    assert solution.objective == pytest.approx(brute_force_objective(doc), abs=TOL)
