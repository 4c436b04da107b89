"""Each backend run of the formulation, judged by the brute force: CP-SAT's integer costs
must not make its bound or its status claim more than the true costs allow."""

from __future__ import annotations

from typing import Any

import pytest

import optimizer.loans.backends as backends
from optimizer.core.envelope import Options, Status
from optimizer.core.runner import SolveContext
from optimizer.core.scaling import IntegerScale
from optimizer.loans import LoansInstance
from optimizer.loans.candidates import build_candidates
from optimizer.loans.formulation import build_rows, objective_coefficients
from optimizer.loans.verify import verify

from .helpers import TEST_OPTIONS, TOL, brute_force_objective, random_document, run


def fractional_document(seed: int, *, shift: float, unfilled: float | None = None) -> dict:
    """A tiny instance whose shipping costs end in ``shift`` (and with no lateness cost, so
    every loan's objective coefficient does too)."""
    doc = random_document(seed, libraries=3, titles=2, copies=3, requests=3, days=7)
    for leg in doc["shipping"]:
        leg["cost"] += shift
    doc["penalties"]["late_per_day"] = 0.0
    if unfilled is not None:
        doc["penalties"]["unfilled"] = unfilled
    return doc


def cp_sat_result(doc: dict[str, Any]) -> tuple[backends.Result, float]:
    """CP-SAT on the whole model of ``doc``, and the true cost of the plan it chose."""
    cands = build_candidates(LoansInstance.model_validate(doc))
    cost, offset = objective_coefficients(cands)
    context = SolveContext(Options(**TEST_OPTIONS))
    result = backends.solve_cp_sat(cands, build_rows(cands), context)
    return result, float(cost[result.selected].sum()) + offset


def test_a_coarse_cp_sat_scale_widens_the_bound_and_claims_only_what_it_proves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whole-yuan CP-SAT costs for loans that each cost x.6 (so their coefficients, less a
    # whole penalty, round up by 0.4): the rounded optimum lies above the true one, and a
    # bound taken from it unwidened would exceed the brute-force optimum.
    monkeypatch.setattr(backends, "integer_scale", lambda values: IntegerScale(1, False))
    open_gaps = 0
    for seed in range(8):
        doc = fractional_document(seed, shift=0.6)
        best = brute_force_objective(doc)
        result, objective = cp_sat_result(doc)
        assert objective == pytest.approx(best, abs=TOL)
        assert result.bound is not None
        assert result.bound <= best + TOL, seed
        if objective - result.bound > TOL:
            open_gaps += 1
            assert result.status == Status.FEASIBLE, seed
        else:
            assert result.status == Status.OPTIMAL, seed
    assert open_gaps >= 3


@pytest.mark.parametrize("seed", range(4))
def test_cp_sat_proves_optima_whose_costs_no_power_of_ten_makes_whole(seed: int) -> None:
    # Thirds of a yuan: no scale makes them whole, the finest one leaves a rounding error
    # far below the gap tolerance, so the widened bound still proves the optimum.
    doc = fractional_document(seed, shift=1 / 3, unfilled=100 / 3)
    best = brute_force_objective(doc)
    result, objective = cp_sat_result(doc)
    assert objective == pytest.approx(best, abs=TOL)
    assert result.status == Status.OPTIMAL
    assert result.bound is not None
    assert best - TOL <= result.bound <= best + TOL


@pytest.mark.parametrize("seed", range(4))
def test_the_three_backends_agree_with_the_brute_force(seed: int) -> None:
    doc = random_document(seed + 20, libraries=3, titles=2, copies=3, requests=3, days=7)
    best = brute_force_objective(doc)
    instance = LoansInstance.model_validate(doc)
    for solver in ("highs", "cbc", "cp-sat"):
        solution = run(doc, solver=solver)
        assert solution.status == Status.OPTIMAL, solver
        assert verify(instance, solution.solution or {}).valid, solver
        assert solution.objective == pytest.approx(best, abs=TOL), solver
