"""The facility week example (contract 6.7): cryo-EM collections attended for their first
hour and running on overnight, and GPU clusters taking processing steps side by side."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.envelope import Status
from optimizer.instruments.generate import facility_week

from .helpers import solve

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "instances"
    / "instruments"
    / "chengdu-chongqing-facility-week.json"
)


@pytest.fixture(scope="module")
def week() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def test_the_example_file_is_what_its_generator_writes(week):
    assert week == json.loads(json.dumps(facility_week()))
    cryo = [s for r in week["requests"] for s in r["steps"] if s["name"].startswith("Titan Krios")]
    assert cryo and all(s["attended_minutes"] == 60 for s in cryo)
    clusters = [i for i in week["instruments"] if i["type"] == "hpc"]
    assert clusters and all(i["capacity"] == 8 and i["cores"] == 64 for i in clusters)
    later_hpc = [
        s for r in week["requests"] for s in r["steps"][1:] if s["name"].startswith("GPU partition")
    ]
    assert later_hpc and all(s["moves_sample"] is False for s in later_hpc)


def overnight_unattended(week: dict[str, Any], bookings: list[dict[str, Any]]) -> list[str]:
    """Cryo-EM bookings that run past a local midnight while their operator is off shift."""
    types = {i["id"]: i["type"] for i in week["instruments"]}
    shifts = {
        o["id"]: [(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
                  for w in o["availability"]]
        for o in week["operators"]
    }  # fmt: skip
    out = []
    for b in bookings:
        start, end = datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"])
        if types[b["instrument"]] != "cryo-em" or end.date() == start.date():
            continue
        if not any(a <= start and end <= z for a, z in shifts[b["operator"]]):
            out.append(f"{b['request']} {b['start']} to {b['end']}")
    return out


def most_at_once(week: dict[str, Any], bookings: list[dict[str, Any]]) -> int:
    types = {i["id"]: i["type"] for i in week["instruments"]}
    most = 0
    for b in bookings:
        if types[b["instrument"]] != "hpc":
            continue
        at_start = [
            c for c in bookings if c["instrument"] == b["instrument"]
            and c["start"] <= b["start"] < c["end"]
        ]  # fmt: skip
        most = max(most, len(at_start))
    return most


def test_first_come_first_served_books_collections_overnight_and_jobs_side_by_side(week):
    result = solve(week, solver="greedy")
    assert result.status == Status.FEASIBLE
    assert result.verification.valid, result.verification.violations
    bookings = result.solution["bookings"]
    assert overnight_unattended(week, bookings)
    assert most_at_once(week, bookings) > 1


@pytest.mark.slow
def test_the_facility_week_solves_verifies_and_runs_collections_overnight(week):
    greedy = solve(week, solver="greedy")
    result = solve(week, time_limit_s=15, threads=2)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert result.verification.valid, result.verification.violations
    assert result.objective >= greedy.objective
    assert result.bound is not None and result.bound >= result.objective
    bookings = result.solution["bookings"]
    assert overnight_unattended(week, bookings)
    assert most_at_once(week, bookings) > 1


def test_a_facility_week_round_trips_through_a_workbook():
    """The new fields have columns of their own and come back as they went."""
    from optimizer.core.documents import parse_document
    from optimizer.core.spreadsheets import read_workbook, workbook
    from optimizer.instruments.generate import week_document

    parsed = parse_document(week_document(20, 6, 3, seed=4, attended_minutes=60, hpc_capacity=4))
    assert parsed.instance is not None, parsed.issues
    back = read_workbook(workbook(parsed.instance))
    assert back.valid, [i.detail for i in back.issues][:3]
    again = parse_document(back.document).instance
    assert again is not None and again.model_dump() == parsed.instance.model_dump()
    steps = [s for r in again.requests for s in r.steps]
    assert any(s.attended_minutes == 60 for s in steps)
    assert any(not s.moves_sample for s in steps) or any(s.cores for s in steps)
    assert any(i.capacity == 4 for i in again.instruments)
