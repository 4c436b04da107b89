"""The Lagrangian bound of the courier model (``courier_bound``), which the service reports
above the size the MIP runs at: never above the optimum, and near it where copies are
scarce."""

from __future__ import annotations

import time

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from optimizer.loans import LoansInstance
from optimizer.loans.courier_bound import lagrangian_bound
from optimizer.loans.courier_model import build_courier_candidates

from .courier_oracle import brute_force, plan_count, random_courier_document
from .helpers import TOL
from .test_couriers import contract_example


def _bound(doc: dict, target: float) -> float:
    cands = build_courier_candidates(LoansInstance.model_validate(doc))
    assert cands.exact
    return lagrangian_bound(cands, target, time.perf_counter() + 2.0)


SEEDS = [s for s in range(30) if plan_count(random_courier_document(s, requests=5)) <= 3_000]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_bound_never_passes_the_brute_force_optimum(seed: int) -> None:
    doc = random_courier_document(seed, requests=5)
    optimum = brute_force(doc)
    # Steering at the optimum, and past it (as when the plan is far from the best).
    assert _bound(doc, optimum) <= optimum + TOL
    assert _bound(doc, 2 * optimum + 100) <= optimum + TOL


def test_a_scarce_copy_leaves_requests_unfilled_in_the_bound_too() -> None:
    """One copy and three requests for it at once: two go unfilled in every plan. The bound
    prices the copy's days away, so it counts them (without, all three took the copy)."""
    doc = contract_example()
    doc["copies"] = [c for c in doc["copies"] if c["id"] == "c1"]
    doc["requests"] = [dict(doc["requests"][0], id=f"q{k}") for k in range(1, 4)]
    solution = solve_document(doc, overrides={"time_limit_s": 10, "threads": 1})
    assert solution.status == Status.OPTIMAL
    assert len(solution.solution["unfilled"]) >= 2
    unfilled_cost = doc["penalties"]["unfilled"] * len(solution.solution["unfilled"])
    bound = _bound(doc, solution.objective)
    assert unfilled_cost <= bound <= solution.objective + TOL
