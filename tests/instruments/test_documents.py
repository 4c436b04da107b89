"""Malformed documents, time zones, and the verifier catching broken schedules."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Status
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.verify import verify

from .helpers import TEST_OPTIONS, at, base_document, request, solve, step

INVALID = Path(__file__).resolve().parents[1] / "data" / "invalid"

EXPECTED = {
    "bad-objective": ("invalid_choice", "objective"),
    "deadline-before-release": ("ends_before_start", "requests[0].deadline"),
    "duplicate-instrument": ("duplicate_id", "instruments[1].id"),
    "negative-weight": ("out_of_range", "requests[0].weight"),
    "no-utc-offset": ("missing_utc_offset", "requests[0].deadline"),
    "not-whole-minute": ("not_whole_minute", "requests[0].release"),
    "operator-unknown-instrument": ("unknown_reference", "operators[0].instruments[0]"),
    "pin-not-eligible": ("not_eligible", "requests[0].pinned[0].instrument"),
    "pin-step-out-of-range": ("out_of_range", "requests[0].pinned[0].step"),
    "step-names-both": ("instrument_choice", "requests[0].steps[0]"),
    "step-names-neither": ("instrument_choice", "requests[0].steps[0]"),
    "travel-to-itself": ("self_pair", "travel[0]"),
    "type-without-instrument": ("unknown_reference", "requests[0].steps[0].instrument_type"),
    "unknown-field": ("unknown_field", "requests[0].priority"),
    "unknown-instrument": ("unknown_reference", "requests[0].steps[0].instruments[1]"),
    "unknown-site": ("unknown_reference", "instruments[0].site"),
    "window-ends-before-start": ("ends_before_start", "instruments[0].maintenance[0].end"),
    "zero-duration": ("out_of_range", "requests[0].steps[0].duration_minutes"),
}


def test_every_invalid_file_has_an_expectation():
    files = {p.stem.removeprefix("instruments-") for p in INVALID.glob("instruments-*.json")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_document_is_invalid_with_code_and_path(name):
    raw = (INVALID / f"instruments-{name}.json").read_text()
    result = solve_document(raw)
    assert result.status == Status.INVALID
    code, path = EXPECTED[name]
    assert [(i.code, i.path) for i in result.issues] == [(code, path)]
    assert result.issues[0].detail


def test_every_issue_is_reported_at_once():
    d = base_document(
        requests=[
            request("r1", step(["em-9"], 60)),
            request("r1", step("hpc", 60), release="2026-12-01T09:00:01+08:00"),
        ]
    )
    parsed = parse_document(d)
    assert {(i.code, i.path) for i in parsed.issues} == {
        ("duplicate_id", "requests[1].id"),
        ("unknown_reference", "requests[0].steps[0].instruments[0]"),
        ("unknown_reference", "requests[1].steps[0].instrument_type"),
        ("not_whole_minute", "requests[1].release"),
    }


# ---------------------------------------------------------------- time zones


def shifted(doc: dict, offset_hours: int) -> dict:
    """The same document with every request time written in another UTC offset."""
    tz = timezone(timedelta(hours=offset_hours))
    out = copy.deepcopy(doc)
    for r in out["requests"]:
        for key in ("release", "deadline", "due"):
            if key in r:
                r[key] = datetime.fromisoformat(r[key]).astimezone(tz).isoformat()
        for p in r.get("pinned", []):
            p["start"] = datetime.fromisoformat(p["start"]).astimezone(tz).isoformat()
    return out


def test_any_utc_offset_in_the_horizon_offset_out():
    doc = base_document(
        requests=[
            request("r1", step(["em-1"], 90), release=at(30), deadline=at(200), weight=2),
            request(
                "r2",
                step(["em-1"], 60),
                pinned=[{"step": 0, "instrument": "em-1", "start": at(240)}],
            ),
        ]
    )
    first = solve(doc)
    for hours in (0, -5, 9):
        other = solve(shifted(doc, hours))
        assert other.status == Status.OPTIMAL
        assert other.objective == first.objective
        assert other.solution == first.solution
        for b in other.solution["bookings"]:
            assert b["start"].endswith("+08:00") and b["end"].endswith("+08:00")
    pinned = next(b for b in first.solution["bookings"] if b["request"] == "r2")
    assert pinned["start"] == "2026-12-01T12:00:00+08:00"


def test_utc_horizon_writes_utc_times():
    doc = base_document(
        horizon={"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"},
        requests=[request("r1", step(["em-1"], 60), release="2026-12-01T09:30:00+08:00")],
    )
    result = solve(doc)
    assert result.solution["bookings"][0]["start"] == "2026-12-01T01:30:00+00:00"


# ---------------------------------------------------------------- the verifier as judge


@pytest.fixture(scope="module")
def solved():
    doc = base_document(
        requests=[
            request("r1", step(["em-1"], 120, operator_required=True), step(["nmr-1"], 60)),
            request("r2", step(["em-1"], 120), due=at(600)),
        ],
        quotas=[{"institution": "scu", "instrument_type": "nmr", "max_minutes": 60}],
    )
    doc["instruments"][0]["changeover_minutes"] = 20
    doc["instruments"][0]["maintenance"] = [{"start": at(900), "end": at(1000)}]
    result = solve_document(doc, overrides=TEST_OPTIONS)
    assert result.status == Status.OPTIMAL and result.verification.valid
    return InstrumentsInstance.model_validate(doc), result.solution


def tamper(solution, request_id, step_no, **fields):
    out = copy.deepcopy(solution)
    for b in out["bookings"]:
        if b["request"] == request_id and b["step"] == step_no:
            b.update(fields)
    return out


def moved(solution, request_id, step_no, minute, minutes):
    return tamper(solution, request_id, step_no, start=at(minute), end=at(minute + minutes))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: moved(s, "r2", 0, 880, 120), "maintenance"),
        (lambda s: moved(s, "r2", 0, 1400, 120), "outside"),
        (lambda s: tamper(s, "r1", 0, operator=None), "needs an operator"),
        (lambda s: tamper(s, "r1", 0, operator="op-9"), "unknown operator"),
        (lambda s: tamper(s, "r1", 1, instrument="em-2"), "not eligible"),
        (lambda s: tamper(s, "r1", 1, start=at(0).replace("+08:00", "+00:00")), "offset"),
        (lambda s: {**s, "bookings": [b for b in s["bookings"] if b["step"] != 1]}, "partly"),
        (lambda s: {**s, "unscheduled": ["r2"]}, "unscheduled"),
    ],
)
def test_verifier_rejects_a_broken_schedule(solved, change, words):
    instance, solution = solved
    assert verify(instance, solution).valid
    report = verify(instance, change(solution))
    assert not report.valid
    assert any(words in v for v in report.violations), report.violations


def test_verifier_checks_overlap_changeover_travel_and_quota(solved):
    instance, solution = solved
    em = sorted(
        (b for b in solution["bookings"] if b["instrument"] == "em-1"), key=lambda b: b["start"]
    )
    first, second = em
    start = datetime.fromisoformat(first["end"])
    for gap, words in ((-10, "overlap"), (10, "changeover")):
        s = start + timedelta(minutes=gap)
        broken = tamper(
            solution,
            second["request"],
            second["step"],
            start=s.isoformat(),
            end=(s + timedelta(minutes=120)).isoformat(),
        )
        report = verify(instance, broken)
        assert any(words in v for v in report.violations), report.violations
    r1 = {b["step"]: b for b in solution["bookings"] if b["request"] == "r1"}
    early = datetime.fromisoformat(r1[0]["end"]) + timedelta(minutes=30)
    broken = tamper(
        solution, "r1", 1, start=early.isoformat(), end=(early + timedelta(minutes=60)).isoformat()
    )
    assert any("travel" in v for v in verify(instance, broken).violations)
    tight = instance.model_copy(
        update={"quotas": [instance.quotas[0].model_copy(update={"max_minutes": 59})]}
    )
    assert any("quota" in v for v in verify(tight, solution).violations)
