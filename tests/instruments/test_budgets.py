"""Prices and budgets (contract 6.8): issues, the verifier's check, and a brute-force oracle.

The oracle enumerates every subset of rigid requests (each has one instrument and one
start) and keeps the heaviest that overlaps nowhere and stays within every quota and
budget, costing bookings in exact fractions from the contract's rule: internal price on the
requester's own site, external elsewhere. The solvers' budgets share the quota mechanism
(optimizer/instruments/limits.py); this checks that mechanism from outside.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from typing import Any

import pytest

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status
from optimizer.instruments.verify import verify
from tests.violations import unmatched_templates

from .helpers import at, base_document, request, solve, step

PRICES = [
    {"instrument_type": "em", "internal_per_hour": 40, "external_per_hour": 95},
    {"instrument_type": "nmr", "internal_per_hour": 25, "external_per_hour": 61},
]
HOST = {"em-1": "scu", "em-2": "scu", "nmr-1": "cqu"}
TYPE = {"em-1": "em", "em-2": "em", "nmr-1": "nmr"}
PER_HOUR = {p["instrument_type"]: p for p in PRICES}


def cost(institution: str, instrument: str, minutes: int) -> Fraction:
    price = PER_HOUR[TYPE[instrument]]
    key = "internal_per_hour" if HOST[instrument] == institution else "external_per_hour"
    return Fraction(minutes * price[key], 60)


# ---------------------------------------------------------------- issues


@pytest.mark.parametrize(
    ("fields", "code", "path"),
    [
        ({"prices": [PRICES[0], PRICES[0]]}, "duplicate_price", "prices[1]"),
        (
            {"prices": [{**PRICES[0], "instrument_type": "cryo"}]},
            "unknown_reference",
            "prices[0].instrument_type",
        ),
        (
            {
                "prices": PRICES[:1],
                "budgets": [{"institution": "scu", "instrument_type": "nmr", "max_cost": 10}],
            },
            "budget_without_price",
            "budgets[0].instrument_type",
        ),
        (
            {"budgets": [{"institution": "scu", "max_cost": 10}]},
            "budget_without_price",
            "budgets[0].instrument_type",
        ),
        (
            {
                "prices": PRICES,
                "budgets": [
                    {"institution": "scu", "max_cost": 10},
                    {"institution": "scu", "instrument_type": None, "max_cost": 20},
                ],
            },
            "duplicate_budget",
            "budgets[1]",
        ),
        (
            {
                "fair_share": [
                    {"institution": "scu", "instrument_type": "em", "target": 0.6},
                    {"institution": "cqu", "instrument_type": "em", "target": 0.5},
                ]
            },
            "fair_share_over_one",
            "fair_share[1].target",
        ),
        (
            {
                "fair_share": [
                    {"institution": "scu", "instrument_type": "em", "target": 0.2},
                    {"institution": "scu", "instrument_type": "em", "target": 0.2},
                ]
            },
            "duplicate_fair_share",
            "fair_share[1]",
        ),
        (
            {
                "usage_history": [
                    {"institution": "scu", "instrument_type": "nrm", "weeks_ago": 1, "minutes": 5}
                ]
            },
            "unknown_reference",
            "usage_history[0].instrument_type",
        ),
    ],
)
def test_bad_accounts_are_named_by_path_and_value(fields, code, path):
    issues = parse_document(base_document(**fields)).issues
    assert [(i.code, i.path) for i in issues] == [(code, path)]


def test_a_budget_on_an_unpriced_type_quotes_the_value():
    doc = base_document(
        prices=PRICES[:1],
        budgets=[{"institution": "scu", "instrument_type": "nmr", "max_cost": 10}],
    )
    (issue,) = parse_document(doc).issues
    assert "budgets[0].instrument_type = 'nmr'" in issue.detail


# ---------------------------------------------------------------- verifier


def budget_week() -> tuple[Any, dict[str, Any]]:
    """scu books em-1 (its own site, 40/h) for 3 h and nmr-1 (cqu's, 61/h) for 2 h."""
    doc = base_document(
        prices=PRICES,
        budgets=[
            {"institution": "scu", "instrument_type": "em", "max_cost": 120},
            {"institution": "scu", "max_cost": 242},
        ],
        requests=[
            request("r1", step(["em-1"], 180)),
            request("r2", step(["nmr-1"], 120)),
        ],
    )
    instance = parse_document(doc).instance
    solution = {
        "bookings": [
            {"request": "r1", "step": 0, "instrument": "em-1", "operator": None,
             "start": at(0), "end": at(180)},
            {"request": "r2", "step": 0, "instrument": "nmr-1", "operator": None,
             "start": at(0), "end": at(120)},
        ],
        "unscheduled": [],
    }  # fmt: skip
    return instance, solution


def tightened(instance, k: int, max_cost: float):
    budgets = list(instance.budgets)
    budgets[k] = budgets[k].model_copy(update={"max_cost": max_cost})
    return instance.model_copy(update={"budgets": budgets})


def test_budgets_met_exactly_verify():
    instance, solution = budget_week()  # em: 120 of 120; all: 120 + 122 = 242 of 242
    report = verify(instance, solution)
    assert report.valid, report.violations


def test_every_budget_message_is_produced_by_a_mutation():
    instance, solution = budget_week()
    messages = []
    for k, limit, words in ((0, 119.99, "scu on em"), (1, 241.5, "scu on every type")):
        report = verify(tightened(instance, k, limit), solution)
        assert not report.valid
        assert any(words in v for v in report.violations), report.violations
        messages += report.violations
    assert unmatched_templates("optimizer.instruments.costs", messages) == []


def test_the_cost_kpis_follow_the_contract():
    result = solve(
        {
            **base_document(prices=PRICES, budgets=[{"institution": "scu", "max_cost": 242}]),
            "requests": [
                request("r1", step(["em-1"], 180)),
                request("r2", step(["nmr-1"], 120)),
                request("r3", step(["nmr-1"], 90), institution="cqu"),
            ],
        }
    )
    assert result.status == Status.OPTIMAL and result.verification.valid
    assert result.kpis["cost_by_institution"] == {"cqu": 37.5, "scu": 242.0}
    assert result.kpis["cost_by_institution_and_type"]["scu"] == {"em": 120.0, "nmr": 122.0}
    assert result.kpis["booked_minutes_by_institution_and_type"]["scu"] == {"em": 180, "nmr": 120}


def test_without_the_new_fields_no_new_kpis_appear():
    result = solve(base_document(requests=[request("r1", step(["em-1"], 60))]))
    assert "cost_by_institution" not in result.kpis
    assert "fair_share" not in result.kpis


# ---------------------------------------------------------------- oracle


def random_week(rng: random.Random, n: int) -> tuple[dict[str, Any], list[tuple]]:
    """Rigid requests of three institutions on the three instruments, with quotas and budgets."""
    jobs = []
    requests = []
    for k in range(n):
        instrument = rng.choice(["em-1", "em-2", "nmr-1"])
        start = rng.randrange(0, 1200)
        minutes = rng.randrange(30, 240)
        who = rng.choice(["scu", "cqu", "xju"])
        weight = rng.choice([1.0, 1.5, 2.0, 3.0])
        jobs.append((f"r{k}", who, instrument, start, start + minutes, weight))
        requests.append(
            request(
                f"r{k}",
                step([instrument], minutes),
                institution=who,
                weight=weight,
                release=at(start),
                deadline=at(start + minutes),
            )
        )
    budgets = [
        {"institution": "scu", "instrument_type": "nmr", "max_cost": rng.randrange(50, 200)},
        {"institution": "cqu", "max_cost": rng.randrange(100, 400) + 0.5},
        {"institution": "xju", "instrument_type": "em", "max_cost": rng.randrange(80, 300)},
    ]
    quotas = [
        {"institution": "scu", "instrument_type": "em", "max_minutes": rng.randrange(60, 300)}
    ]
    doc = base_document(requests=requests, prices=PRICES, budgets=budgets, quotas=quotas)
    return doc, jobs


def brute_force(doc: dict[str, Any], jobs: list[tuple]) -> float:
    best = 0.0
    for size in range(len(jobs) + 1):
        for chosen in itertools.combinations(jobs, size):
            if _allowed(doc, chosen):
                best = max(best, sum(j[5] for j in chosen))
    return best


def _allowed(doc: dict[str, Any], chosen: tuple) -> bool:
    for a, b in itertools.combinations(chosen, 2):
        if a[2] == b[2] and a[3] < b[4] and b[3] < a[4]:
            return False
    for q in doc["quotas"]:
        used = sum(
            j[4] - j[3]
            for j in chosen
            if j[1] == q["institution"] and TYPE[j[2]] == q["instrument_type"]
        )
        if used > q["max_minutes"]:
            return False
    for b in doc["budgets"]:
        spent = sum(
            (
                cost(j[1], j[2], j[4] - j[3])
                for j in chosen
                if j[1] == b["institution"] and b.get("instrument_type") in (None, TYPE[j[2]])
            ),
            Fraction(0),
        )
        if spent > Fraction(str(b["max_cost"])):
            return False
    return True


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("solver", ["auto", "cp-sat"])
def test_budgets_and_quotas_match_brute_force(seed, solver):
    rng = random.Random(1800 + seed)
    doc, jobs = random_week(rng, 11)
    expected = brute_force(doc, jobs)
    result = solve(doc, solver=solver)
    assert result.verification.valid, result.verification.violations
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(expected, abs=1e-6)
    baseline = solve(doc, solver="greedy")
    assert baseline.verification.valid, baseline.verification.violations
    assert baseline.objective <= expected + 1e-6


def test_the_oracle_instances_are_bound_by_budgets():
    """Without budgets the optimum is higher on some seed: the oracle tests test budgets."""
    raised = 0
    for seed in range(5):
        doc, jobs = random_week(random.Random(1800 + seed), 11)
        free = {**doc, "budgets": []}
        raised += brute_force(free, jobs) > brute_force(doc, jobs) + 1e-9
    assert raised >= 3


def budgeted_week() -> dict[str, Any]:
    """A generated flexible week whose every institution may spend half of what it would."""
    from optimizer.instruments.generate import week_document

    week = week_document(60, 12, 8, seed=11)
    week["requests"] = week["requests"][:25]
    types = sorted({i["type"] for i in week["instruments"]})
    week["prices"] = [
        {"instrument_type": t, "internal_per_hour": 30 + 7 * k, "external_per_hour": 80 + 9 * k}
        for k, t in enumerate(types)
    ]
    free = solve(week, explain=False)
    spent = free.kpis["cost_by_institution"]
    week["budgets"] = [
        {"institution": who, "max_cost": round(c / 2, 2)} for who, c in sorted(spent.items())
    ]
    week["free_objective"] = free.objective  # read back below, then removed
    return week


def test_every_path_keeps_the_budgets_of_a_flexible_week(monkeypatch):
    """CP-SAT with the capacity rows, neighbourhood search on sub-weeks, and greedy all
    verify; the budgets bind; no path claims a bound below another's schedule."""
    from optimizer.instruments import model

    week = budgeted_week()
    free_objective = week.pop("free_objective")
    full = solve(week, explain=False, time_limit_s=6)
    greedy_plan = solve(week, solver="greedy", explain=False)
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)  # the large-week path on a small week
    large = solve(week, explain=False, time_limit_s=4)
    for result in (full, greedy_plan, large):
        assert result.verification.valid, result.verification.violations
        for budget in week["budgets"]:
            assert result.kpis["cost_by_institution"].get(budget["institution"], 0) <= (
                budget["max_cost"] + 0.005
            )
    assert full.objective < free_objective
    assert full.objective >= greedy_plan.objective - 1e-9
    assert large.objective >= greedy_plan.objective - 1e-9
    for bounded in (full, large):
        assert bounded.bound is not None
        assert bounded.bound >= max(full.objective, large.objective) - 1e-9


def test_a_budget_too_small_for_a_request_alone_is_named():
    doc = base_document(
        prices=PRICES,
        budgets=[{"institution": "cqu", "instrument_type": "em", "max_cost": 100}],
        requests=[
            request("r1", step(["em-1"], 60), step(["em-2"], 30), institution="cqu"),
            request("r2", step(["em-1"], 30), institution="cqu"),
        ],
    )
    result = solve(doc)  # cqu pays the external 95 an hour: r1 costs 142.50
    assert result.solution["unscheduled"] == ["r1"]
    (why,) = result.explanations
    assert why.code == "budget_too_small"
    assert (
        "its steps need at least 142.50 of the budget of cqu on em, which is 100.00" in why.detail
    )
    doc["requests"][0]["mandatory"] = True
    result = solve(doc)
    assert result.status == Status.INFEASIBLE
    assert [e.code for e in result.explanations] == ["budget_too_small"]
    assert "r1 is mandatory but can never be scheduled" in result.explanations[0].detail


def test_a_pin_beyond_the_budget_is_named():
    doc = base_document(
        prices=PRICES,
        budgets=[{"institution": "cqu", "max_cost": 50}],
        requests=[
            request(
                "r1",
                step(["em-1"], 60),
                institution="cqu",
                pinned=[{"step": 0, "instrument": "em-1", "start": at(60)}],
            )
        ],
    )
    (why,) = solve(doc).explanations
    assert why.code == "budget_too_small"
    assert (
        "pinned on em-1 at" in why.detail and "beyond the budget of cqu on every type" in why.detail
    )
