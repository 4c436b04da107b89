"""Courier runs, return legs and library calendars (contract 7.7).

The solver is judged by a brute force over every plan of small random instances
(``courier_oracle``), which prices plans itself; every plan by the verifier; the no-courier
special case by the objectives of the old model.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from optimizer.loans import LoansInstance
from optimizer.loans.explain import unfilled
from optimizer.loans.unfilled_reasons import courier_missing
from optimizer.loans.verify import verify

from .courier_oracle import brute_force, plan_count, random_courier_document
from .helpers import TOL, document, iso, random_document, run

EXAMPLES = Path(__file__).resolve().parents[2] / "instances" / "loans"


def small_seeds(limit: int, seeds: range) -> list[int]:
    """Seeds whose instances have at most ``limit`` plans for the brute force to try."""
    return [s for s in seeds if plan_count(random_courier_document(s, requests=5)) <= limit]


@pytest.mark.parametrize("seed", small_seeds(3_000, range(30)))
def test_the_solver_reaches_the_brute_force_optimum(seed: int) -> None:
    doc = random_courier_document(seed, requests=5)
    solution = run(doc)
    assert solution.verification.valid, solution.verification.violations
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(brute_force(doc), abs=TOL)


@pytest.mark.slow
@pytest.mark.parametrize("seed", small_seeds(20_000, range(30, 80)))
def test_the_solver_reaches_the_brute_force_optimum_on_more_instances(seed: int) -> None:
    doc = random_courier_document(seed, requests=5)
    solution = run(doc)
    assert solution.verification.valid, solution.verification.violations
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(brute_force(doc), abs=TOL)


@pytest.mark.parametrize("solver", ["cbc", "cp-sat"])
@pytest.mark.parametrize("seed", small_seeds(3_000, range(8)))
def test_every_backend_reaches_the_same_optimum(seed: int, solver: str) -> None:
    doc = random_courier_document(seed, requests=5)
    solution = run(doc, solver=solver)
    assert solution.verification.valid, solution.verification.violations
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(run(doc).objective, abs=TOL)


@pytest.mark.parametrize("seed", range(12))
def test_the_baseline_rides_runs_with_room_and_is_costed_the_same_way(seed: int) -> None:
    doc = random_courier_document(seed, requests=5)
    rota = run(doc, solver="rota")
    assert rota.verification.valid, rota.verification.violations
    assert rota.status == Status.FEASIBLE
    assert rota.objective >= run(doc).objective - TOL


@pytest.mark.parametrize("seed", range(6))
def test_without_couriers_the_objective_is_the_old_one(seed: int) -> None:
    """The old behaviour is the special case: an empty courier list and no handling give
    the objective of the document without those fields."""
    doc = random_document(seed)
    explicit = {**copy.deepcopy(doc), "couriers": [], "handling_cost": 0}
    before, after = run(doc), run(explicit)
    assert after.status == before.status == Status.OPTIMAL
    assert after.objective == pytest.approx(before.objective, abs=TOL)
    assert "runs" not in after.solution


def contract_example() -> dict[str, Any]:
    """The example of contract 7.7."""
    title = "isbn:9787040396638"
    return {
        "kind": "loans",
        "name": "winter-term-couriers",
        "horizon": {"start": "2026-12-01", "end": "2027-01-31"},
        "libraries": [
            {"id": "cqu-lib"},
            {"id": "scu-lib"},
            {"id": "xju-lib", "closed_dates": ["2027-01-08"]},
        ],
        "copies": [
            {"id": "c1", "library": "cqu-lib", "title": title, "available_from": "2026-12-05"},
            {"id": "c2", "library": "scu-lib", "title": title},
        ],
        "requests": [
            {"id": "q1", "library": "xju-lib", "titles": [title], "needed_by": "2026-12-10"}
        ],
        "shipping": [
            {"from": "cqu-lib", "to": "xju-lib", "days": 4, "cost": 18.0},
            {"from": "scu-lib", "to": "xju-lib", "days": 5, "cost": 25.0},
        ],
        "couriers": [
            courier("cqu-xju", "cqu-lib", "xju-lib", [1, 4], 60.0),
            courier("xju-cqu", "xju-lib", "cqu-lib", [2, 5], 60.0),
            courier("scu-xju", "scu-lib", "xju-lib", [3], 80.0),
            courier("xju-scu", "xju-lib", "scu-lib", [3], 80.0),
        ],
        "handling_cost": 1.5,
        "penalties": {"unfilled": 200.0, "late_per_day": 5.0},
    }


def courier(
    kid: str, a: str, b: str, weekdays: list[int], cost: float, **more: Any
) -> dict[str, Any]:
    return {
        "id": kid,
        "from": a,
        "to": b,
        "weekdays": weekdays,
        "capacity": 20,
        "cost_per_run": cost,
    } | more


def test_the_contract_example_reads_as_documented() -> None:
    solution = run(contract_example())
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(128.0)
    (loan,) = solution.solution["loans"]
    assert (loan["ship"], loan["arrive"], loan["late_days"]) == ("2026-12-07", "2026-12-11", 1)
    # Due back on the closed Friday: the next run back is Tuesday's.
    assert (loan["due_back"], loan["return_ship"], loan["home"]) == (
        "2027-01-08",
        "2027-01-12",
        "2027-01-16",
    )
    assert solution.solution["runs"] == [
        {"courier": "cqu-xju", "day": "2026-12-07", "items": 1, "cost": 60.0},
        {"courier": "xju-cqu", "day": "2027-01-12", "items": 1, "cost": 60.0},
    ]


def test_runs_are_paid_once_however_many_items_ride_them() -> None:
    """Two requests at one borrower from one lender share both runs: one pair of runs paid,
    four legs handled, where per-item shipping would pay two parcels each way."""
    doc = document(
        ["A", "B"],
        [{"id": "a1", "library": "A", "title": "T"}, {"id": "a2", "library": "A", "title": "U"}],
        [
            {"id": "q1", "library": "B", "titles": ["T"], "needed_by": iso(6), "loan_days": 7},
            {"id": "q2", "library": "B", "titles": ["U"], "needed_by": iso(6), "loan_days": 7},
        ],
        [{"from": "A", "to": "B", "days": 1, "cost": 30.0}],
        days=14,
    )
    doc["couriers"] = [courier("ab", "A", "B", [3], 50.0), courier("ba", "B", "A", [3], 50.0)]
    doc["handling_cost"] = 1.0
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(50 + 50 + 4 * 1.0)
    assert [r["items"] for r in solution.solution["runs"]] == [2, 2]


def test_a_full_return_run_forbids_the_loan_that_would_need_it() -> None:
    """Capacity counts return legs: with room for one item a run, the second request cannot
    come back on the only run back, so it stays unfilled."""
    doc = document(
        ["A", "B"],
        [{"id": "a1", "library": "A", "title": "T"}, {"id": "a2", "library": "A", "title": "T"}],
        [
            {"id": "q1", "library": "B", "titles": ["T"], "needed_by": iso(8), "loan_days": 7},
            {"id": "q2", "library": "B", "titles": ["T"], "needed_by": iso(8), "loan_days": 7},
        ],
        [],
        days=2,
    )
    # Out every day, one item a run, but back on Thursdays only (2026-12-01 is a Tuesday):
    # loans shipped on 12-01 or 12-02 are due back on 12-09 or 12-10 and both would ride the
    # Thursday 12-10 run home.
    doc["couriers"] = [
        courier("ab", "A", "B", [1, 2, 3, 4, 5, 6, 7], 1.0, days=1, capacity=1),
        courier("ba", "B", "A", [4], 1.0, days=1, capacity=1),
    ]
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    assert len(solution.solution["loans"]) == 1
    assert len(solution.solution["unfilled"]) == 1


def test_no_loan_ships_or_arrives_on_a_closed_day() -> None:
    doc = contract_example()
    # cqu-lib closed on Mondays: no run on Monday 12-07; Thursday 12-10 arrives 12-14, 4
    # days late: 60 + 60 + 3 + 20 = 143 still beats scu-lib's 163.
    doc["libraries"][0]["closed_weekdays"] = [1]
    solution = run(doc)
    (loan,) = solution.solution["loans"]
    assert loan["ship"] == "2026-12-10"
    assert solution.objective == pytest.approx(143.0)


def test_the_explanation_names_the_missing_courier() -> None:
    doc = contract_example()
    doc["couriers"] = [k for k in doc["couriers"] if k["to"] != "cqu-lib" and k["to"] != "scu-lib"]
    instance = LoansInstance.model_validate(doc)
    (why,) = unfilled(instance, {"loans": [], "unfilled": ["q1"]})
    assert why.code == "no_courier"
    assert why.related == ["cqu-lib", "scu-lib"]
    assert "no courier runs both ways" in why.detail


def test_a_route_with_couriers_both_ways_is_not_a_missing_courier() -> None:
    instance = LoansInstance.model_validate(contract_example())
    assert not courier_missing(instance, "cqu-lib", "xju-lib")
    assert courier_missing(instance, "cqu-lib", "scu-lib")


def test_the_example_file_matches_its_generator() -> None:
    from optimizer.loans.generate import western_consortium_couriers

    shipped = json.loads((EXAMPLES / "western-consortium-couriers.json").read_text())
    assert shipped == json.loads(json.dumps(western_consortium_couriers()))
    pairs = {(k["from"], k["to"]) for k in shipped["couriers"]}
    assert len(pairs) == 25 * 24
    assert all(len(k["weekdays"]) == 2 for k in shipped["couriers"])


@pytest.mark.slow
def test_the_example_file_solves_to_a_verified_plan_better_than_the_baseline() -> None:
    raw = (EXAMPLES / "western-consortium-couriers.json").read_bytes()
    # A shorter search than the example's 25 s: the plan beats the rota within seconds.
    solution = solve_document(raw, overrides={"threads": 1, "time_limit_s": 8})
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.verification.valid, solution.verification.violations
    rota = solve_document(raw, overrides={"threads": 1, "solver": "rota"})
    assert rota.verification.valid, rota.verification.violations
    assert solution.objective <= rota.objective
    assert len(solution.explanations) == len(solution.solution["unfilled"])


INVALID: list[tuple[str, Any, str, str]] = [
    (
        "weekday-out-of-range",
        lambda d: d["couriers"][0].update(weekdays=[1, 8]),
        "out_of_range",
        "couriers[0].weekdays[1]",
    ),
    (
        "weekdays-empty",
        lambda d: d["couriers"][0].update(weekdays=[]),
        "too_short",
        "couriers[0].weekdays",
    ),
    (
        "weekday-twice",
        lambda d: d["couriers"][0].update(weekdays=[4, 4]),
        "duplicate_weekday",
        "couriers[0].weekdays",
    ),
    (
        "days-without-route",
        lambda d: d["couriers"][2].update({"from": "cqu-lib", "to": "scu-lib"}),
        "missing_field",
        "couriers[2].days",
    ),
    (
        "zero-capacity",
        lambda d: d["couriers"][0].update(capacity=0),
        "out_of_range",
        "couriers[0].capacity",
    ),
    (
        "negative-run-cost",
        lambda d: d["couriers"][0].update(cost_per_run=-1),
        "out_of_range",
        "couriers[0].cost_per_run",
    ),
    (
        "unknown-library",
        lambda d: d["couriers"][0].update(to="xjtu-lib", days=2),
        "unknown_reference",
        "couriers[0].to",
    ),
    (
        "to-itself",
        lambda d: d["couriers"][0].update(to="cqu-lib", days=0),
        "self_pair",
        "couriers[0]",
    ),
    (
        "duplicate-courier",
        lambda d: d["couriers"][1].update(id="cqu-xju"),
        "duplicate_id",
        "couriers[1].id",
    ),
    (
        "closed-without-couriers",
        lambda d: d.update(couriers=[], handling_cost=0),
        "needs_couriers",
        "libraries[2].closed_dates",
    ),
    (
        "handling-without-couriers",
        lambda d: d.update(couriers=[]) or d["libraries"][2].pop("closed_dates"),
        "needs_couriers",
        "handling_cost",
    ),
    (
        "negative-handling",
        lambda d: d.update(handling_cost=-0.5),
        "out_of_range",
        "handling_cost",
    ),
]


@pytest.mark.parametrize(
    ("change", "code", "path"), [m[1:] for m in INVALID], ids=[m[0] for m in INVALID]
)
def test_bad_courier_input_names_the_field_and_value(change: Any, code: str, path: str) -> None:
    doc = contract_example()
    change(doc)
    solution = solve_document(json.dumps(doc).encode())
    assert solution.status == Status.INVALID
    assert (code, path) in {(i.code, i.path) for i in solution.issues}, solution.issues


def test_the_verifier_rejects_runs_in_a_plan_without_couriers() -> None:
    doc = random_document(0)
    solution = run(doc)
    payload = {**solution.solution, "runs": []}
    report = verify(LoansInstance.model_validate(doc), payload)
    assert report.violations == [
        "runs list: the solution lists courier runs, but there are no couriers"
    ]


def test_regression_the_baseline_as_a_mip_start_was_reported_optimal_above_the_optimum() -> None:
    """Bug: with the baseline's plan (726) handed to HiGHS as a MIP start, HiGHS reported it
    optimal with a dual bound of 726, though a plan of 716 exists."""
    doc = random_courier_document(14, requests=5)
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(brute_force(doc), abs=TOL)
    assert run(doc, solver="rota").objective == pytest.approx(726.0)
    assert solution.objective == pytest.approx(716.0)


@pytest.mark.parametrize("seed", small_seeds(3_000, range(30)))
def test_the_search_path_keeps_the_rules_and_its_bound_is_below_the_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models too large for the MIP are solved by best response with a Lagrangian bound:
    forced on small instances, its plans verify and its bound never passes the optimum."""
    from optimizer.loans import courier_solve

    monkeypatch.setattr(courier_solve, "MIP_CANDIDATES", 0)
    doc = random_courier_document(seed, requests=5)
    optimum = brute_force(doc)
    solution = run(doc)
    assert solution.verification.valid, solution.verification.violations
    assert solution.objective >= optimum - TOL
    assert solution.bound is not None and solution.bound <= optimum + TOL
    if solution.status == Status.OPTIMAL:
        assert solution.objective == pytest.approx(optimum, abs=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_capped_candidates_claim_no_bound(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the candidate budget each request keeps its soonest pools: the plan still keeps
    every rule, but no bound is claimed over candidates that were cut."""
    from optimizer.loans import courier_solve

    monkeypatch.setattr(courier_solve, "CANDIDATE_BUDGET", 5)
    monkeypatch.setattr(courier_solve, "DAYS_WHEN_CAPPED", 1)
    doc = random_courier_document(seed, requests=5)
    instance = LoansInstance.model_validate(doc)
    cands = courier_solve.build_candidates_for(instance)
    assert all(cands.request.count(q) <= 1 for q in set(cands.request))
    assert not cands.exact
    solution = run(doc)
    assert solution.verification.valid, solution.verification.violations
    assert solution.status == Status.FEASIBLE
    assert solution.bound is None


def test_an_unfilled_request_whose_loans_cost_more_than_the_penalty_says_so() -> None:
    doc = contract_example()
    doc["penalties"]["unfilled"] = 100.0  # two runs cost at least 120
    solution = run(doc)
    assert solution.solution["unfilled"] == ["q1"]
    (why,) = solution.explanations
    assert why.code == "penalty_cheaper"
    assert why.detail == (
        "every loan of isbn:9787040396638 costs at least the penalty 100 next to the plan's "
        "runs: the cheapest, copy c1 from cqu-lib on cqu-xju on 2026-12-07, adds 128 in runs, "
        "handling and lateness"
    )


def test_a_free_copy_the_plan_left_is_named_and_a_busy_one_blocks() -> None:
    instance = LoansInstance.model_validate(contract_example())
    (why,) = unfilled(instance, {"loans": [], "unfilled": ["q1"], "runs": []})
    assert why.code == "not_chosen"
    assert why.related == ["c1"]
    # Both copies out over every loan q1 could have: nothing cheaper than the penalty fits.
    doc = contract_example()
    doc["requests"].append({**doc["requests"][0], "id": "q0"})
    doc["requests"].append({**doc["requests"][0], "id": "q9"})
    instance = LoansInstance.model_validate(doc)
    held = {
        "loans": [
            {
                "request": "q0",
                "copy": "c1",
                "lender": "cqu-lib",
                "ship": "2026-12-07",
                "return_ship": "2027-01-12",
                "home": "2027-01-16",
                "courier": "cqu-xju",
                "return_courier": "xju-cqu",
            },
            {
                "request": "q9",
                "copy": "c2",
                "lender": "scu-lib",
                "ship": "2026-12-02",
                "return_ship": "2027-01-06",
                "home": "2027-01-11",
                "courier": "scu-xju",
                "return_courier": "xju-scu",
            },
        ],
        "unfilled": ["q1"],
    }
    (why,) = unfilled(instance, held)
    assert why.code == "all_candidates_blocked"
    assert why.related == ["cqu-lib", "scu-lib"]


def test_show_prints_each_loans_courier_and_the_runs() -> None:
    from rich.console import Console

    from optimizer.loans.render import render

    doc = contract_example()
    solution = run(doc)
    console = Console(width=200, record=True)
    for part in render(solution.model_dump(mode="json"), doc):
        console.print(part)
    text = console.export_text()
    assert "courier runs: 2, costing 120.00" in text
    (loan_line,) = [x for x in text.splitlines() if "q1" in x]
    assert "cqu-xju" in loan_line and "2027-01-12 xju-cqu" in loan_line
    runs_part = text.split("courier runs:", 1)[1].splitlines()
    run_lines = [x.split() for x in runs_part if x.split()[:1] in (["2026-12-07"], ["2027-01-12"])]
    assert [[w for w in line if w != "│"] for line in run_lines] == [
        ["2026-12-07", "cqu-xju", "1", "60.00"],
        ["2027-01-12", "xju-cqu", "1", "60.00"],
    ]
