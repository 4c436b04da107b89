"""Regression: weighted interval scheduling of a few hundred rigid requests on one instrument
was left `feasible` (200 requests) or even suboptimal (500) at the 30 s default, because
CP-SAT's LP did not see that bookings covering one moment exclude each other. The clique
constraints on mandatory parts make that LP integral, so the optimum is proven at once."""

from __future__ import annotations

import random

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from tests.instruments.test_oracles import rigid_document, weighted_interval_optimum


@pytest.mark.parametrize("n", [200, 400])
def test_hundreds_of_rigid_requests_are_proven_optimal(n):
    document, jobs = rigid_document(random.Random(n), n)
    solution = solve_document(document, overrides={"time_limit_s": 20, "threads": 2})
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(weighted_interval_optimum(jobs), abs=1e-6)
