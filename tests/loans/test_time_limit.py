"""A solve returns a verified plan even when the limit is far too short for the model: the
candidate build stops refining at its deadline and the solve falls back to simpler plans.

How long a solve takes is measured in ``benchmarks/loans.py``, not asserted here.
"""

from __future__ import annotations

import math

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.loans import LoansInstance, solve
from optimizer.loans.candidates import build_candidates
from optimizer.loans.generate import loans_document


def test_past_its_deadline_the_candidate_build_stops_refining() -> None:
    instance = LoansInstance.model_validate(loans_document(300, seed=3))
    full = build_candidates(instance)
    cut = build_candidates(instance, deadline=-math.inf)  # always past
    assert full.exact and not cut.exact
    assert 0 < len(cut) < len(full)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [2.0])
def test_short_limit_still_gives_a_verified_plan(limit: float) -> None:
    instance = LoansInstance.model_validate(loans_document(3000, copies=11250, seed=3))
    rota = solve(instance, Options(solver="rota", time_limit_s=60))
    assert rota.verification.valid
    sol = solve(instance, Options(time_limit_s=limit, threads=1))
    assert sol.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert sol.verification.valid, sol.verification.violations
    assert sol.run.time_limit_s == limit
    # Any plan beats leaving everything unfilled once time allows a real solve.
    assert sol.objective is not None and sol.objective < sum(
        instance.penalties.unfilled * r.weight for r in instance.requests
    )
