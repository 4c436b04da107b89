"""The verifier as judge: a verified plan, broken one rule at a time, is rejected by name.

The plan below is written by hand from the contract (sections 6.2 and 6.7) and exercises
every rule: a cryo-EM collection attended for its first hour and its last half hour and
running unattended overnight, its operator staffing another session during the unattended
part, processing on a parallel HPC partition (two bookings at once, cores and gpus at their
totals) that owes no travel because the sample stays, a pinned session after a changeover,
a two-site workflow with travel, a quota met exactly, a mandatory request and one left out.
Each mutation breaks one rule and names the violation it must produce.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest

from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.verify import verify
from tests.violations import unmatched_templates

from .helpers import START, at, base_document, request, step

VERIFIER = "optimizer.instruments.verify"

Plan = dict[str, Any]


def instance_document() -> dict[str, Any]:
    return base_document(
        horizon={"start": at(0), "end": at(2880)},
        instruments=[
            {"id": "em-1", "type": "em", "site": "site-a", "changeover_minutes": 30,
             "maintenance": [{"start": at(1800), "end": at(1860)}]},
            {"id": "em-2", "type": "em", "site": "site-a", "availability": [
                {"start": at(0), "end": at(720)}, {"start": at(1440), "end": at(2040)}]},
            {"id": "hpc-1", "type": "hpc", "site": "site-b", "capacity": 2, "cores": 4,
             "gpus": 1},
        ],
        operators=[
            {"id": "op-1", "instruments": ["em-1", "em-2"], "availability": [
                {"start": at(0), "end": at(600)}, {"start": at(1440), "end": at(1980)}]},
            {"id": "op-2", "instruments": ["em-2"]},
        ],
        requests=[
            request("r1",
                    step(["em-1"], 1020, operator_required=True, attended_minutes=60,
                         attended_end_minutes=30),
                    step(["hpc-1"], 120, cores=2, moves_sample=False)),
            request("r2", step(["em-1"], 120, operator_required=True), institution="cqu",
                    pinned=[{"step": 0, "instrument": "em-1", "start": at(1560)}]),
            request("r3", step(["hpc-1"], 240, cores=2, gpus=1)),
            request("r4", step(["hpc-1"], 60, gpus=1), mandatory=True, release=at(0),
                    deadline=at(300)),
            request("r5", step("em", 60), institution="cqu"),
            request("r6", step(["em-2"], 60, operator_required=True), weight=2),
            request("r7", step(["hpc-1"], 60), step(["em-1"], 60)),
        ],
        quotas=[{"institution": "cqu", "instrument_type": "em", "max_minutes": 120}],
    )  # fmt: skip


def booking(rid: str, k: int, instrument: str, start: int, end: int, op: str | None = None):
    return {"request": rid, "step": k, "instrument": instrument, "operator": op,
            "start": at(start), "end": at(end)}  # fmt: skip


PLAN: Plan = {
    "bookings": [
        booking("r4", 0, "hpc-1", 0, 60),
        booking("r7", 0, "hpc-1", 60, 120),
        booking("r7", 1, "em-1", 180, 240),  # 60 min travel from site-b
        booking("r1", 0, "em-1", 480, 1500, "op-1"),  # op-1 from 480 to 540 and 1470 to 1500
        booking("r6", 0, "em-2", 540, 600, "op-1"),  # while r1 runs unattended
        booking("r1", 1, "hpc-1", 1500, 1620),  # at once: the sample stays, no travel
        booking("r3", 0, "hpc-1", 1500, 1740),  # beside r1: 2 bookings, 4 cores, 1 gpu
        booking("r2", 0, "em-1", 1560, 1680, "op-1"),  # pinned, 30 min changeover after r1
    ],
    "unscheduled": ["r5"],
}


@pytest.fixture(scope="module")
def instance() -> InstrumentsInstance:
    return InstrumentsInstance.model_validate(instance_document())


def edited(rid: str, k: int, **fields: Any) -> Callable[[Plan], Plan]:
    """A mutation that rewrites booking (rid, k): minutes for start and end, else as is."""

    def change(plan: Plan) -> Plan:
        out = copy.deepcopy(plan)
        for b in out["bookings"]:
            if (b["request"], b["step"]) == (rid, k):
                for key, value in fields.items():
                    b[key] = (
                        at(value) if key in ("start", "end") and isinstance(value, int) else value
                    )
        return out

    return change


def added(rid: str, k: int, instrument: str, start: int, end: int, op: str | None = None):
    def change(plan: Plan) -> Plan:
        out = copy.deepcopy(plan)
        out["bookings"].append(booking(rid, k, instrument, start, end, op))
        out["unscheduled"] = [r for r in out["unscheduled"] if r != rid]
        return out

    return change


def removed(rid: str, k: int, unscheduled: bool = False) -> Callable[[Plan], Plan]:
    def change(plan: Plan) -> Plan:
        out = copy.deepcopy(plan)
        out["bookings"] = [b for b in out["bookings"] if (b["request"], b["step"]) != (rid, k)]
        if unscheduled:
            out["unscheduled"].append(rid)
        return out

    return change


def in_utc(plan: Plan) -> Plan:
    out = edited("r4", 0)(plan)
    for b in out["bookings"]:
        if b["request"] == "r4":
            for key in ("start", "end"):
                b[key] = (
                    (START + timedelta(minutes=60 if key == "end" else 0))
                    .astimezone(UTC)
                    .isoformat()
                )
    return out


def off_minute(plan: Plan) -> Plan:
    out = copy.deepcopy(plan)
    for b in out["bookings"]:
        if b["request"] == "r4":
            b["start"] = (START + timedelta(seconds=30)).isoformat()
            b["end"] = (START + timedelta(minutes=60, seconds=30)).isoformat()
    return out


def unlisted(plan: Plan) -> Plan:
    return {**copy.deepcopy(plan), "unscheduled": []}


def twice(plan: Plan) -> Plan:
    out = copy.deepcopy(plan)
    out["bookings"].append(dict(out["bookings"][0]))
    return out


MUTATIONS: list[tuple[str, Callable[[Plan], Plan], str]] = [
    ("unlisted", unlisted, "the unscheduled list does not match the requests left without bookings"),
    ("unknown request", added("zz", 0, "em-1", 0, 60), "booking 8 (zz step 0): unknown request"),
    ("no such step", added("r5", 7, "em-1", 0, 60), "booking 8 (r5 step 7): no such step"),
    ("not a datetime", edited("r4", 0, start="tomorrow"),
     "booking 0 (r4 step 0): start and end must be ISO datetimes with a UTC offset"),
    ("other offset", in_utc, "booking 0 (r4 step 0): times are not written in the horizon's UTC offset"),
    ("seconds", off_minute, "booking 0 (r4 step 0): times are not on whole minutes"),
    ("twice", twice, "booking 8 (r4 step 0): the step is booked twice"),
    ("partly", removed("r1", 1), "request r1 is partly booked (1 of 2 steps)"),
    ("mandatory left out", removed("r4", 0, unscheduled=True), "request r4 must be served but is not"),
    ("three at once", edited("r4", 0, start=1500, end=1560),
     "instrument hpc-1: 3 bookings at once from 2026-12-02T09:00:00+08:00, capacity 2"),
    ("five cores", edited("r7", 0, start=1500, end=1560),
     "instrument hpc-1: 5 cores in use from 2026-12-02T09:00:00+08:00, 4 in all"),
    ("two gpus", edited("r4", 0, start=1500, end=1560),
     "instrument hpc-1: 2 gpus in use from 2026-12-02T09:00:00+08:00, 1 in all"),
    ("quota", added("r5", 0, "em-2", 0, 60), "quota of cqu on em: 180 min booked, max 120"),
    ("unknown instrument", added("r5", 0, "em-9", 0, 60), "request r5 step 0: unknown instrument 'em-9'"),
    ("not eligible", edited("r4", 0, instrument="em-2"), "request r4 step 0: instrument em-2 is not eligible"),
    ("too long", edited("r4", 0, end=70), "request r4 step 0: lasts 1:10:00, not 60 min"),
    ("after deadline", edited("r4", 0, start=300, end=360),
     "request r4 step 0: outside [release, deadline] within the horizon"),
    ("closed", edited("r6", 0, start=690, end=750),
     "request r6 step 0: not inside one availability window of em-2"),
    ("no operator", edited("r2", 0, operator=None), "request r2 step 0: needs an operator"),
    ("off the pin", edited("r2", 0, start=1590, end=1710), "request r2 step 0 is not booked as pinned"),
    ("instrument clash", edited("r7", 1, start=460, end=520), "instrument em-1: bookings of r7 and r1 overlap"),
    ("operator clash", edited("r6", 0, start=1440, end=1500), "operator op-1: steps of r6 and r1 overlap"),
    ("maintenance", edited("r2", 0, start=1780, end=1900),
     "request r2 step 0: overlaps maintenance of em-1 from 2026-12-02 14:00:00+08:00"),
    ("no travel time", edited("r7", 1, start=150, end=210),
     "request r7 step 1: starts before step 0 ends plus 60 min travel"),
    ("unknown operator", edited("r2", 0, operator="op-9"), "request r2 step 0: unknown operator 'op-9'"),
    ("changeover", edited("r2", 0, start=1510, end=1630),
     "instrument em-1: less than the changeover between r1 and r2"),
    ("not qualified", edited("r2", 0, operator="op-2"),
     "request r2 step 0: operator op-2 is not qualified for em-1"),
    ("off shift", edited("r6", 0, start=570, end=630),
     "request r6 step 0: operator op-1 is not available for the whole step"),
    ("attended end off shift", edited("r1", 0, start=300, end=1320),
     "request r1 step 0: operator op-1 is not available for the attended part from "
     "2026-12-02T05:30:00+08:00 to 2026-12-02T06:00:00+08:00"),
]  # fmt: skip


def test_the_plan_verifies_with_its_objective(instance: InstrumentsInstance) -> None:
    report = verify(instance, PLAN)
    assert report.valid, report.violations
    assert report.objective == 7.0  # r1, r2, r3, r4 and r7 at 1, r6 at 2


@pytest.mark.parametrize(("name", "change", "violation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_break_is_named(instance, name, change, violation) -> None:
    report = verify(instance, change(PLAN))
    assert not report.valid
    assert violation in report.violations, report.violations


def test_every_verifier_message_is_produced_by_some_break(instance) -> None:
    messages = [v for _, change, _ in MUTATIONS for v in verify(instance, change(PLAN)).violations]
    assert unmatched_templates(VERIFIER, messages) == []


def test_the_unattended_middle_is_the_operators_own_time(instance) -> None:
    """r6 needs op-1 from 09:00 to 10:00 on day one, while r1 runs unattended; the same hour
    inside r1's attended start is a clash."""
    assert verify(instance, PLAN).valid
    clash = edited("r6", 0, start=500, end=560)(PLAN)
    assert "operator op-1: steps of r1 and r6 overlap" in verify(instance, clash).violations
