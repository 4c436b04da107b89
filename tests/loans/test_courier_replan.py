"""Re-planning loans that ride courier runs (contracts 7.6 and 7.7): a loan is kept by the
same copy shipped on the same day, on any courier running that day; a frozen loan rides
again the courier it shipped on. Judged by the brute force of ``courier_oracle``, which
counts changes and frozen loans itself."""

from __future__ import annotations

import copy
import dataclasses
import random
from datetime import date
from typing import Any

import pytest

from optimizer.core.envelope import Status
from optimizer.core.runner import Outcome, run_solve
from optimizer.loans import KIND, LoansInstance, courier_solve
from optimizer.loans.generate import loans_document, with_couriers

from .courier_oracle import brute_force, plan_count, random_courier_document
from .helpers import TOL, changed_instance, iso, loan_by_hand, now_on, run

BACKENDS = ("auto", "cbc", "cp-sat")


def earlier_plan(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """The plan of an earlier version of ``doc`` (other run costs and due dates): valid for
    the copies and runs it uses, no longer optimal."""
    earlier = copy.deepcopy(doc)
    for k in earlier["couriers"]:
        k["cost_per_run"] = float(rng.choice((0, 5, 30, 60)))
    for r in earlier["requests"]:
        r["needed_by"] = iso(rng.randint(0, 8))
    solution = run(earlier)
    assert solution.verification.valid, solution.verification.violations
    return solution.solution


def with_previous(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` changed, re-planning against the plan of an earlier version, now and then
    with a loan made by hand (any copy of a title the request takes, on some day, with or
    without a courier named)."""
    previous = earlier_plan(rng, doc)
    extra = loan_by_hand(rng, doc, previous)
    if extra is not None:
        previous["loans"].append(extra)
    new = changed_instance(rng, doc, links="couriers")
    new["previous"] = previous
    return new


def replan_seeds(limit: int, seeds: range) -> list[int]:
    """Seeds whose re-plan instances the brute force can try in a moment."""
    return [s for s in seeds if plan_count(with_previous(random.Random(s), base(s))) <= limit]


def base(seed: int) -> dict[str, Any]:
    return random_courier_document(seed, requests=4)


@pytest.mark.parametrize("seed", replan_seeds(2_000, range(24)))
def test_replanned_courier_loans_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    doc = with_previous(rng, base(seed))
    penalty = rng.choice([0.01, 3.0, 20.0, 150.0])
    expected = brute_force(doc, change_penalty=penalty)
    for solver in BACKENDS:
        solution = run(doc, solver=solver, change_penalty=penalty)
        assert solution.verification.valid, solution.verification.violations
        assert solution.status == Status.OPTIMAL, (solver, solution.status)
        assert solution.objective == pytest.approx(expected, abs=TOL), solver
        changes = solution.changes
        assert changes is not None
        assert solution.objective == pytest.approx(
            solution.kpis["objective_before_changes"] + penalty * changes.changed
        )


@pytest.mark.parametrize("seed", replan_seeds(2_000, range(100, 140)))
def test_frozen_courier_loans_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    doc = with_previous(rng, base(seed))
    now = now_on(rng.randint(0, 5))
    expected = brute_force(doc, change_penalty=0.01, now=now.date())
    solution = run(doc, solver=rng.choice(BACKENDS), change_penalty=0.01, now=now)
    if expected == float("inf"):
        assert solution.status == Status.INFEASIBLE
        assert solution.explanations
        return
    assert solution.status == Status.OPTIMAL, solution.explanations
    assert solution.objective == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("seed", replan_seeds(2_000, range(200, 212)))
def test_the_search_path_replans_within_its_bound(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the MIP's size the search places the frozen loans first and keeps them; its
    plan verifies and its bound is at most the optimum."""
    monkeypatch.setattr(courier_solve, "MIP_CANDIDATES", 0)
    rng = random.Random(seed)
    doc = with_previous(rng, base(seed))
    now = now_on(rng.randint(0, 5))
    expected = brute_force(doc, change_penalty=5.0, now=now.date())
    solution = run(doc, change_penalty=5.0, now=now)
    if expected == float("inf"):
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.verification.valid, solution.verification.violations
    assert solution.objective >= expected - TOL
    assert solution.bound is not None and solution.bound <= expected + TOL


def test_an_unchanged_instance_keeps_its_courier_plan() -> None:
    for seed in range(8):
        doc = base(seed)
        first = run(doc)
        doc["previous"] = first.solution  # the whole solution object, runs and all
        again = run(doc, change_penalty=1.0)
        assert again.status == Status.OPTIMAL
        assert again.objective == pytest.approx(first.objective, abs=TOL)
        assert again.changes.kept == len(first.solution["loans"])
        assert again.changes.changed == 0


def two_couriers() -> dict[str, Any]:
    """One copy at A for a request at B; two couriers A→B on Mondays: a dear fast one and a
    cheap slow one, listed in that order, and one back on Fridays."""
    runs = {"weekdays": [1], "capacity": 5}
    return {
        "kind": "loans",
        "name": "two-couriers",
        "horizon": {"start": iso(0), "end": iso(20)},
        "libraries": [{"id": "A"}, {"id": "B"}],
        "copies": [{"id": "c", "library": "A", "title": "T"}],
        "requests": [
            {
                "id": "q",
                "library": "B",
                "titles": ["T"],
                "requested_on": iso(0),
                "needed_by": iso(30),
                "loan_days": 3,
                "weight": 1.0,
            }
        ],
        "couriers": [
            {"id": "fast", "from": "A", "to": "B", "days": 1, "cost_per_run": 50.0, **runs},
            {"id": "slow", "from": "A", "to": "B", "days": 2, "cost_per_run": 10.0, **runs},
            {
                "id": "back",
                "from": "B",
                "to": "A",
                "weekdays": [5],
                "days": 1,
                "capacity": 5,
                "cost_per_run": 10.0,
            },
        ],
        "handling_cost": 0.0,
        "penalties": {"unfilled": 500.0, "late_per_day": 1.0},
        "policies": {},
    }


def first_monday() -> int:
    return next(d for d in range(7) if date.fromisoformat(iso(d)).isoweekday() == 1)


def test_a_frozen_loan_rides_its_courier_again_and_a_kept_one_may_change_courier() -> None:
    doc = two_couriers()
    monday = first_monday()
    loan = {"request": "q", "copy": "c", "lender": "A", "ship": iso(monday), "courier": "fast"}
    doc["previous"] = {"loans": [loan]}
    # Not shipped yet: the same copy on the same day on the cheap courier is still kept.
    moved = run(doc, change_penalty=1.0, now=now_on(monday - 1))
    assert moved.status == Status.OPTIMAL
    assert moved.solution["loans"][0]["courier"] == "slow"
    assert moved.changes.kept == 1
    # Shipped: it is on the fast van, whatever the cheap one would cost.
    shipped = run(doc, change_penalty=1.0, now=now_on(monday))
    assert shipped.status == Status.OPTIMAL
    assert shipped.solution["loans"][0]["courier"] == "fast"
    assert shipped.objective == pytest.approx(
        brute_force(doc, change_penalty=1.0, now=now_on(monday).date()), abs=TOL
    )
    rota = run(doc, solver="rota", now=now_on(monday))
    assert rota.verification.valid and rota.changes.kept == 1
    assert rota.solution["loans"][0]["courier"] == "fast"


def test_a_frozen_loan_without_its_courier_rides_the_first_run_that_day() -> None:
    doc = two_couriers()
    monday = first_monday()
    doc["previous"] = {"loans": [{"request": "q", "copy": "c", "lender": "A", "ship": iso(monday)}]}
    shipped = run(doc, now=now_on(monday))
    assert shipped.status == Status.OPTIMAL
    assert shipped.solution["loans"][0]["courier"] == "fast"  # arrives first


def test_a_frozen_loan_whose_courier_is_gone_leaves_no_plan() -> None:
    doc = two_couriers()
    monday = first_monday()
    loan = {"request": "q", "copy": "c", "lender": "A", "ship": iso(monday), "courier": "fast"}
    doc["previous"] = {"loans": [loan]}
    doc["couriers"] = [k for k in doc["couriers"] if k["id"] != "fast"]
    solution = run(doc, now=now_on(monday))
    assert solution.status == Status.INFEASIBLE
    (why,) = solution.explanations
    assert why.code == "frozen_loan_impossible"
    assert why.subject == "q" and "courier fast is no longer in the instance" in why.detail


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda doc: doc["couriers"].pop(0), "any more"),
        (lambda doc: doc["couriers"][0].update(weekdays=[3]), "on {ship}, a Monday"),
        (
            lambda doc: doc["libraries"][0].update(closed_dates=["{ship}"]),
            "on {ship}: A is closed that day",
        ),
        (
            lambda doc: doc["libraries"][1].update(closed_dates=["{arrive}"]),
            "on {ship}: B is closed on {arrive}, when slow would arrive",
        ),
    ],
    ids=["courier-gone", "other-weekday", "lender-closed", "borrower-closed-on-arrival"],
)
def test_a_loan_whose_day_lost_its_runs_says_why(change: Any, why: str) -> None:
    doc = two_couriers()
    doc["couriers"].pop(0)  # the slow courier only, Mondays
    first = run(doc)
    (loan,) = first.solution["loans"]
    ship, arrive = loan["ship"], loan["arrive"]
    doc["previous"] = first.solution
    change(doc)
    for x in doc["libraries"]:
        x["closed_dates"] = [d.format(ship=ship, arrive=arrive) for d in x.get("closed_dates", [])]
    again = run(doc)
    assert again.status == Status.OPTIMAL
    (changed,) = again.changes.moved_items + again.changes.dropped_items
    assert changed.reason == "no courier runs from A to B " + why.format(ship=ship, arrive=arrive)


def test_frozen_loans_that_overfill_a_run_leave_no_plan() -> None:
    doc = two_couriers()
    monday = first_monday()
    doc["copies"].append({"id": "d", "library": "A", "title": "T"})
    doc["requests"].append({**doc["requests"][0], "id": "q2"})
    for k in doc["couriers"]:
        k["capacity"] = 1
    loans = [
        {"request": q, "copy": c, "lender": "A", "ship": iso(monday), "courier": "slow"}
        for q, c in (("q", "c"), ("q2", "d"))
    ]
    doc["previous"] = {"loans": loans}
    for solver in ("auto", "cbc"):
        solution = run(doc, solver=solver, now=now_on(monday))
        assert solution.status == Status.INFEASIBLE, solver
        (why,) = solution.explanations
        assert why.code == "frozen_loans_conflict" and set(why.related) == {"q", "q2"}


def test_a_plan_moving_a_frozen_loan_to_another_courier_fails_verification() -> None:
    doc = two_couriers()
    monday = first_monday()
    loan = {"request": "q", "copy": "c", "lender": "A", "ship": iso(monday), "courier": "fast"}
    doc["previous"] = {"loans": [loan]}
    doc["options"] = {"now": now_on(monday).isoformat(), "threads": 1}
    instance = LoansInstance.model_validate(doc)
    cheap = run(doc, now=now_on(monday - 1))  # before it shipped: kept, on the cheap van
    assert cheap.solution["loans"][0]["courier"] == "slow"
    assert cheap.changes.kept == 1
    crafted = dataclasses.replace(
        KIND, build_and_solve=lambda inst, ctx: Outcome(Status.OPTIMAL, "crafted", cheap.solution)
    )
    solution = run_solve(crafted, instance)
    assert solution.status == Status.ERROR
    assert solution.verification.violations == [
        f"frozen courier: q shipped on fast on {iso(monday)} but rides slow"
    ]
    # The same plan is fine once the loan has not shipped yet.
    doc["options"]["now"] = now_on(monday - 1).isoformat()
    assert run_solve(crafted, LoansInstance.model_validate(doc)).verification.valid


def test_the_search_path_replans_no_worse_than_keeping_the_previous_plan() -> None:
    """On a generated consortium too large for the MIP, the search starts from the previous
    plan: an unchanged instance's re-plan costs at most what keeping every loan costs (the
    previous plan's own objective), and with a change dearer than that whole plan it keeps
    every loan (loans for requests the plan left unfilled are free to add)."""
    doc = with_couriers(loans_document(300, libraries=10, seed=3), seed=3)
    first = run(doc, solver="rota")  # the baseline's plan, published
    assert first.verification.valid and first.solution["loans"]
    doc["previous"] = first.solution
    for penalty in (5.0, 10 * first.objective):
        again = run(doc, time_limit_s=2.0, change_penalty=penalty)
        assert again.kpis["candidate_loans"] > courier_solve.MIP_CANDIDATES  # the search path
        assert again.verification.valid, again.verification.violations
        assert again.objective <= first.objective + TOL, penalty
    assert again.changes.changed == 0
    assert again.changes.kept == len(first.solution["loans"])
