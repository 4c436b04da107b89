"""A solve returns a verified plan within its time limit, even when the limit is far too
short for the model (the solve then cuts its refinements and falls back to simpler plans)."""

from __future__ import annotations

import time

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.loans import LoansInstance, solve
from optimizer.loans.generate import loans_document

# Generous on a busy 2-core machine: the point is "seconds", not "a minute".
OVERRUN = 1.15


@pytest.mark.parametrize("limit", [2.0])
def test_short_limit_still_gives_a_verified_plan_in_time(limit: float) -> None:
    instance = LoansInstance.model_validate(loans_document(3000, copies=11250, seed=3))
    rota = solve(instance, Options(solver="rota", time_limit_s=60))
    assert rota.verification.valid
    t0 = time.perf_counter()
    sol = solve(instance, Options(time_limit_s=limit, threads=1))
    wall = time.perf_counter() - t0
    assert sol.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert sol.verification.valid, sol.verification.violations
    assert sol.run.runtime_s <= limit * OVERRUN + 0.2
    assert wall <= limit * OVERRUN + 0.3
    # Any plan beats leaving everything unfilled once time allows a real solve.
    if limit >= 2.0:
        assert sol.objective is not None and sol.objective < sum(
            instance.penalties.unfilled * r.weight for r in instance.requests
        )
