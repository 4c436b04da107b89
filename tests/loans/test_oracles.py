"""Exact optima against independent oracles: assignment for single-use, brute force for tiny."""

from __future__ import annotations

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.core.runner import SolveContext
from optimizer.loans import LoansInstance
from optimizer.loans.model import solve_model
from optimizer.loans.verify import verify

from .helpers import (
    TEST_OPTIONS,
    TOL,
    assignment_objective,
    brute_force_objective,
    random_document,
    run,
)


def single_use_document(seed: int, requests: int = 12, copies: int = 14) -> dict:
    """Loans of 20+ days in a 10-day horizon: no copy can serve two loans."""
    return random_document(
        seed,
        libraries=6,
        titles=5,
        copies=copies,
        requests=requests,
        days=10,
        loan_days=(20, 40),
        policies=False,
    )


@pytest.mark.parametrize("seed", range(8))
def test_single_use_matches_linear_sum_assignment(seed: int) -> None:
    doc = single_use_document(seed)
    expected = assignment_objective(doc)
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.verification.valid, solution.verification.violations
    assert solution.objective == pytest.approx(expected, abs=TOL)
    assert solution.kpis["method"] == "assignment"


@pytest.mark.parametrize("seed", range(4))
def test_assignment_path_agrees_with_general_model(seed: int) -> None:
    doc = single_use_document(100 + seed, requests=20, copies=16)
    instance = LoansInstance.model_validate(doc)
    expected = assignment_objective(doc)
    for method in ("assignment", "general"):
        context = SolveContext(Options(**TEST_OPTIONS))
        _, result = solve_model(instance, context, method=method)
        assert result.status == Status.OPTIMAL
        assert result.bound == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("solver", ["highs", "cbc", "cp-sat"])
def test_backends_reach_the_assignment_optimum(solver: str) -> None:
    doc = single_use_document(7)
    solution = run(doc, solver=solver)
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(assignment_objective(doc), abs=TOL)


@pytest.mark.parametrize("seed", range(6))
def test_tiny_instances_match_brute_force(seed: int) -> None:
    doc = random_document(seed, libraries=3, titles=2, copies=3, requests=3, days=7)
    expected = brute_force_objective(doc)
    for solver in ("auto", "cp-sat"):
        solution = run(doc, solver=solver)
        assert solution.status == Status.OPTIMAL, (solver, solution.status)
        assert solution.verification.valid
        assert solution.objective == pytest.approx(expected, abs=TOL), solver


def test_rota_verifies_and_is_never_better_than_optimal() -> None:
    for seed in range(5):
        doc = random_document(seed, requests=8, copies=8, days=20)
        best = run(doc)
        rota = run(doc, solver="rota")
        assert rota.status == Status.FEASIBLE
        assert rota.bound is None
        assert verify(LoansInstance.model_validate(doc), rota.solution).valid
        assert best.objective <= rota.objective + TOL


def test_large_single_use_instances_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # Above the restriction threshold a general instance keeps only each request's cheapest
    # arcs; a single-use one must still be solved whole, as an assignment, to the optimum.
    import optimizer.loans.model as model

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 5)
    monkeypatch.setattr(model, "ARCS_PER_REQUEST", 1)
    doc = single_use_document(11, requests=20, copies=18)
    solution = run(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.kpis["method"] == "assignment"
    assert solution.objective == pytest.approx(assignment_objective(doc), abs=TOL)


def test_restricted_models_keep_an_honest_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Force the restricted model with pricing on a small instance with reuse: the plan must
    # verify, and the bound must not exceed the brute-force optimum.
    import optimizer.loans.model as model

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 1)
    monkeypatch.setattr(model, "ARCS_PER_REQUEST", 1)
    priced = 0
    for seed in range(4):
        doc = random_document(
            seed, libraries=3, titles=2, copies=3, requests=3, days=7, policies=False
        )
        best = brute_force_objective(doc)
        solution = run(doc)
        priced += solution.kpis.get("method", "").startswith("priced")
        assert solution.verification.valid
        assert solution.objective >= best - TOL
        if solution.bound is not None:
            assert solution.bound <= best + TOL
    assert priced >= 2


def test_instances_without_reuse_are_assignments_even_with_short_loans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loans shorter than the horizon, but every copy is wanted only within one loan's
    # time: no copy can be lent twice, so even a large model must stay whole and exact.
    import optimizer.loans.model as model
    from optimizer.loans.arcs import build_arcs, build_pools
    from optimizer.loans.candidates import single_use

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 1)
    checked = 0
    for seed in range(40):
        doc = random_document(
            seed,
            libraries=5,
            titles=4,
            copies=12,
            requests=10,
            days=14,
            loan_days=(9, 14),
            policies=False,
        )
        instance = LoansInstance.model_validate(doc)
        if all(r.loan_days > instance.last_day for r in instance.requests):
            continue
        arcs = build_arcs(instance, build_pools(instance))
        if not single_use(instance, arcs, arcs.earliest <= arcs.last_useful):
            continue
        solution = run(doc)
        assert solution.kpis["method"] == "assignment"
        assert solution.status == Status.OPTIMAL
        assert solution.objective == pytest.approx(assignment_objective(doc), abs=TOL)
        checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_restricted_models_prove_the_brute_force_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # Column generation from one arc per request, then the completion: every loan that
    # could beat the plan joins a MIP whose bound holds for all plans. On small instances
    # that must prove the optimum, and the optimum must be the brute force's.
    import functools

    import optimizer.loans.colgen as colgen
    import optimizer.loans.model as model

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 1)
    monkeypatch.setattr(model, "ARCS_PER_REQUEST", 1)
    # Stop column generation after its first LP: the completion alone must then bring in
    # every loan an optimal plan needs.
    stopped = functools.partial(colgen.column_generation, rounds=1)
    monkeypatch.setattr(colgen, "column_generation", stopped)
    proven = 0
    for seed in range(10):
        doc = random_document(seed, libraries=3, titles=2, copies=4, requests=4, days=8)
        best = brute_force_objective(doc)
        solution = run(doc)
        assert solution.verification.valid, solution.verification.violations
        assert solution.objective >= best - TOL
        assert solution.bound is None or solution.bound <= best + TOL
        if solution.status == Status.OPTIMAL:
            assert solution.objective == pytest.approx(best, abs=TOL)
            proven += solution.kpis["method"].startswith("priced")
    assert proven >= 7
