"""Windows that touch are one window (contract 6.2, rules 2 and 6): the solvers join them,
and the verifier reads them the same way, so a booking across the seam is valid."""

from __future__ import annotations

from optimizer.core.envelope import Status

from .helpers import at, base_document, request, solve, step


def test_a_session_across_touching_instrument_windows_is_served_and_verified():
    doc = base_document(requests=[request("r1", step(["em-1"], 360))])
    doc["instruments"][0]["availability"] = [
        {"start": at(0), "end": at(240)},
        {"start": at(240), "end": at(600)},
    ]
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.solution["unscheduled"] == []


def test_a_session_across_touching_operator_shifts_is_served_and_verified():
    doc = base_document(requests=[request("r1", step(["em-1"], 360, operator_required=True))])
    doc["operators"][0]["availability"] = [
        {"start": at(0), "end": at(300)},
        {"start": at(200), "end": at(600)},
    ]
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.solution["unscheduled"] == []


def test_a_session_across_a_gap_between_windows_is_not_possible():
    doc = base_document(requests=[request("r1", step(["em-1"], 360))])
    doc["instruments"][0]["availability"] = [
        {"start": at(0), "end": at(240)},
        {"start": at(241), "end": at(600)},
    ]
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.solution["unscheduled"] == ["r1"]
