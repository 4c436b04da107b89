"""Property tests with prices, budgets and fair shares (contract 6.8): any generated instance
verifies or is infeasible, never crashes, a proven optimum is never below first-come-first-
served, every unscheduled request has one reason, and with auto and CP-SAT both proving
optimality they agree."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.core.envelope import Status

from .helpers import solve
from .test_properties import OK, documents


@st.composite
def priced_documents(draw):
    doc = draw(documents())
    doc["prices"] = [
        {"instrument_type": "em", "internal_per_hour": draw(st.integers(0, 90)),
         "external_per_hour": draw(st.integers(0, 150))},
        {"instrument_type": "nmr", "internal_per_hour": 20, "external_per_hour": 55},
    ]  # fmt: skip
    if draw(st.booleans()):
        doc["budgets"] = [
            {"institution": "cqu", "max_cost": draw(st.integers(0, 900)) + 0.25},
            {"institution": "scu", "instrument_type": "em", "max_cost": draw(st.integers(0, 700))},
        ]
    if doc["objective"] == "max_weighted_served" and draw(st.booleans()):
        doc["fair_share"] = [
            {
                "institution": "cqu",
                "instrument_type": t,
                "target": draw(st.sampled_from([0.2, 0.5])),
            }
            for t in ("em", "nmr")
        ]
        doc["usage_history"] = [
            {"institution": "scu", "instrument_type": "em", "weeks_ago": draw(st.integers(1, 6)),
             "minutes": draw(st.integers(0, 900))},
        ]  # fmt: skip
        doc["fair_share_penalty"] = draw(st.sampled_from([0.0, 0.001, 0.01]))
    return doc


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(priced_documents())
def test_any_priced_instance_verifies_or_is_infeasible(doc):
    exact = solve(doc, solver="cp-sat", time_limit_s=5)
    assert exact.status in OK, (exact.status, exact.explanations, exact.verification)
    if exact.status == Status.INFEASIBLE:
        assert exact.explanations
        return
    assert exact.verification.valid, exact.verification.violations
    unscheduled = exact.solution["unscheduled"]
    assert sorted(e.subject for e in exact.explanations) == sorted(unscheduled)
    baseline = solve(doc, solver="greedy")
    if baseline.status == Status.FEASIBLE:
        assert baseline.verification.valid, baseline.verification.violations
        if exact.status == Status.OPTIMAL and doc["objective"] == "max_weighted_served":
            assert exact.objective >= baseline.objective - 1e-6
    auto = solve(doc, time_limit_s=5)
    assert auto.status in OK
    if auto.status == Status.OPTIMAL and exact.status == Status.OPTIMAL:
        assert auto.verification.valid, auto.verification.violations
        assert auto.objective == pytest.approx(exact.objective, abs=1e-6)
