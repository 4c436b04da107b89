"""Column generation reaches the LP over every candidate loan, with an honest bound."""

from __future__ import annotations

import pytest

from optimizer.core.envelope import Options
from optimizer.core.runner import SolveContext
from optimizer.loans import LoansInstance
from optimizer.loans.candidates import build_candidates
from optimizer.loans.colgen import column_generation
from tests.loans.helpers import random_document, time_indexed_lp

LP_TOL = 1e-5


@pytest.mark.parametrize("seed", range(12))
def test_converged_lp_is_the_lp_over_every_ship_day(seed: int) -> None:
    doc = random_document(seed, libraries=4, titles=3, copies=6, requests=8, days=14)
    instance = LoansInstance.model_validate(doc)
    # One arc per request on its first day: everything else must come from the pricing.
    cands = build_candidates(instance, max_arcs=1, restrict_above=0)
    context = SolveContext(Options(time_limit_s=30, threads=1))
    _, lp, bound = column_generation(cands, context, keep_s=0.0)
    oracle = time_indexed_lp(doc)
    assert lp.value is not None and bound is not None
    assert lp.value == pytest.approx(oracle, abs=LP_TOL)
    # At convergence nothing prices out, so the Lagrangian bound is the LP value.
    assert bound == pytest.approx(oracle, abs=LP_TOL)


def test_pricing_brings_in_later_ship_days() -> None:
    # One copy, two requests wanting it on day 0 for a short loan: the second must wait for
    # the copy to come home, a ship day the restricted model does not start with.
    from tests.loans.helpers import document, iso

    doc = document(
        ["A", "B"],
        [{"id": "c0", "library": "A", "title": "T"}],
        [
            {
                "id": f"q{k}",
                "library": "B",
                "titles": ["T"],
                "requested_on": iso(0),
                "needed_by": iso(10),
                "loan_days": 2,
            }
            for k in range(2)
        ],
        [{"from": "A", "to": "B", "days": 1, "cost": 5.0}],
        days=12,
    )
    instance = LoansInstance.model_validate(doc)
    cands = build_candidates(instance, max_arcs=1, restrict_above=0)
    assert set(cands.var_day.tolist()) == {0}
    context = SolveContext(Options(time_limit_s=30, threads=1))
    _, lp, bound = column_generation(cands, context, keep_s=0.0)
    # Busy 1 + 2 + 1 = 4 days: the second loan ships on day 4, arrives day 5, on time.
    assert 4 in set(cands.var_day.tolist())
    assert lp.value == pytest.approx(10.0, abs=LP_TOL)
    assert bound == pytest.approx(10.0, abs=LP_TOL)


def test_large_solves_report_their_bound_and_plan_as_they_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The job API shows these updates while a batch solves.
    import optimizer.loans.model as model
    from optimizer.loans import solve

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 1)
    doc = random_document(3, libraries=4, titles=3, copies=6, requests=8, days=14)
    updates: list = []
    solution = solve(
        LoansInstance.model_validate(doc),
        Options(time_limit_s=30, threads=1),
        progress=updates.append,
    )
    phases = [u.phase for u in updates]
    assert "column generation" in phases
    bounds = [u.bound for u in updates if u.phase == "column generation"]
    assert bounds == sorted(bounds)  # the best bound so far never falls
    last = updates[-1]
    assert last.solutions == 1
    assert last.objective == pytest.approx(solution.objective, abs=1e-6)
    assert last.bound == pytest.approx(solution.bound, abs=1e-6)


def test_a_stopped_solve_keeps_a_verified_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # A cancelled job asks the solve to stop: column generation ends after its round and
    # the LP is rounded greedily, so the job still has a plan to keep.
    import threading

    import optimizer.loans.model as model
    from optimizer.loans import solve

    monkeypatch.setattr(model, "RESTRICT_ABOVE_ARCS", 1)
    monkeypatch.setattr(model, "ARCS_PER_REQUEST", 1)
    doc = random_document(5, libraries=4, titles=3, copies=6, requests=10, days=14)
    stop = threading.Event()
    rounds: list = []

    def on_progress(update) -> None:
        if update.phase == "column generation":
            rounds.append(update)
            stop.set()

    solution = solve(
        LoansInstance.model_validate(doc),
        Options(time_limit_s=30, threads=1),
        progress=on_progress,
        stop=stop,
    )
    assert len(rounds) == 1
    assert solution.verification.valid, solution.verification.violations
    assert solution.kpis["method"] == "priced/lp-greedy"
    assert solution.status.value in ("feasible", "optimal")
