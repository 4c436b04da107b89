"""For any generated instance the plan verifies, is optimal, and never loses to rota."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.core.envelope import Status

from .helpers import TOL, random_document, run


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    requests=st.integers(1, 8),
    copies=st.integers(0, 7),
    days=st.integers(1, 20),
)
def test_plans_verify_and_beat_rota(seed: int, requests: int, copies: int, days: int) -> None:
    doc = random_document(seed, requests=requests, copies=copies, days=days)
    best = run(doc)
    assert best.status == Status.OPTIMAL, best.explanations
    assert best.verification.valid, best.verification.violations
    assert abs(best.objective - best.bound) <= TOL
    rota = run(doc, solver="rota")
    assert rota.status == Status.FEASIBLE
    assert rota.verification.valid, rota.verification.violations
    assert best.objective <= rota.objective + TOL
    assert len(best.explanations) == len(best.solution["unfilled"])
