"""Instance builders for the instruments tests: small documents a planner could write."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Solution

# Tests run next to other work on a small machine: one thread, a short limit.
TEST_OPTIONS: dict[str, Any] = {"time_limit_s": 10, "threads": 1}

START = datetime.fromisoformat("2026-12-01T08:00:00+08:00")


def at(minute: int, start: datetime = START) -> str:
    """The ISO time ``minute`` minutes after 2026-12-01 08:00 +08:00."""
    return (start + timedelta(minutes=minute)).isoformat()


def base_document(**changes: Any) -> dict[str, Any]:
    """One day, two sites an hour apart, three instruments, one operator, no requests."""
    doc: dict[str, Any] = {
        "kind": "instruments",
        "name": "rules",
        "horizon": {"start": at(0), "end": at(1440)},
        "objective": "max_weighted_served",
        "sites": [
            {"id": "site-a", "institution": "scu"},
            {"id": "site-b", "institution": "cqu"},
        ],
        "travel": [{"from": "site-a", "to": "site-b", "minutes": 60}],
        "instruments": [
            {"id": "em-1", "type": "em", "site": "site-a"},
            {"id": "em-2", "type": "em", "site": "site-a"},
            {"id": "nmr-1", "type": "nmr", "site": "site-b"},
        ],
        "operators": [{"id": "op-1", "instruments": ["em-1", "em-2"]}],
        "requests": [],
    }
    doc.update(copy.deepcopy(changes))
    return doc


def request(rid: str, *steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "institution": fields.pop("institution", "scu"),
        "steps": list(steps),
        **fields,
    }


def step(instruments: list[str] | str, minutes: int, **fields: Any) -> dict[str, Any]:
    if isinstance(instruments, str):
        return {"instrument_type": instruments, "duration_minutes": minutes, **fields}
    return {"instruments": instruments, "duration_minutes": minutes, **fields}


def solve(doc: dict[str, Any], solver: str = "auto", **options: Any) -> Solution:
    return solve_document(doc, overrides={**TEST_OPTIONS, "solver": solver, **options})


# ---------------------------------------------------------------- an independent oracle


def time_indexed_optimum(doc: dict[str, Any], grid: int) -> float:
    """Most weight served, by a time-indexed MIP (PuLP on HiGHS) written from the contract
    alone: one binary per booking there could be (request, step, instrument, operator,
    start on a ``grid``-minute grid), rows per moment for instruments and operators.

    For ``max_weighted_served`` documents whose times, durations, attended minutes,
    travel and changeovers are all multiples of ``grid``, without quotas or pins. Then some
    optimum starts every step on the grid: rounding every start down to it keeps each
    booking inside its windows and keeps apart any two intervals that were apart, so no
    moment holds more than before (intervals that pairwise meet share a moment).
    Changeovers: each booking holds its instrument for ``changeover_minutes`` after its
    end, which is rule 5 when no request has two steps that may use one instrument (steps
    of one request owe each other none); documents with such requests need changeover 0.
    """
    import pulp

    def minute(value: str) -> int:
        return (datetime.fromisoformat(value) - horizon_start) // timedelta(minutes=1)

    def windows(thing: dict[str, Any]) -> list[tuple[int, int]]:
        given = thing.get("availability")
        if given is None:
            return [(0, horizon)]
        return [(minute(w["start"]), minute(w["end"])) for w in given]

    def inside(spans: list[tuple[int, int]], a: int, b: int) -> bool:
        return any(x <= a and b <= y for x, y in spans)

    horizon_start = datetime.fromisoformat(doc["horizon"]["start"])
    horizon = minute(doc["horizon"]["end"])
    instruments = {i["id"]: i for i in doc["instruments"]}
    site = {i["id"]: i["site"] for i in doc["instruments"]}
    travel: dict[tuple[str, str], int] = {}
    for t in doc.get("travel", []):
        travel[(t["from"], t["to"])] = t["minutes"]
        travel.setdefault((t["to"], t["from"]), t["minutes"])
    operators = doc.get("operators", [])

    def parts(st: dict[str, Any], start: int) -> list[tuple[int, int]]:
        d = st["duration_minutes"]
        head = st.get("attended_minutes")
        if head is None or head + st.get("attended_end_minutes", 0) >= d:
            return [(start, start + d)]
        tail = st.get("attended_end_minutes", 0)
        return [(a, b) for a, b in ((start, start + head), (start + d - tail, start + d)) if b > a]

    def demand(st: dict[str, Any], inst: dict[str, Any]) -> tuple[int, int]:
        cores = st.get("cores", 1) if inst.get("cores") is not None else 0
        gpus = st.get("gpus", 0) if inst.get("gpus") is not None else 0
        return cores, gpus

    # (request, step, instrument, operator, start, end, operator parts)
    columns: list[tuple[int, int, str, str | None, int, int, list[tuple[int, int]]]] = []
    for r, req in enumerate(doc["requests"]):
        release = minute(req["release"]) if "release" in req else 0
        deadline = minute(req["deadline"]) if "deadline" in req else horizon
        for k, st in enumerate(req["steps"]):
            d = st["duration_minutes"]
            eligible = st.get("instruments") or [
                i for i, inst in instruments.items() if inst["type"] == st["instrument_type"]
            ]
            for iid in eligible:
                inst = instruments[iid]
                cores, gpus = demand(st, inst)
                if cores > (inst.get("cores") or 0) or gpus > (inst.get("gpus") or 0):
                    continue
                for s in range(release, deadline - d + 1, grid):
                    if not inside(windows(inst), s, s + d):
                        continue
                    if not st.get("operator_required"):
                        columns.append((r, k, iid, None, s, s + d, []))
                        continue
                    for op in operators:
                        here = parts(st, s)
                        if iid in op["instruments"] and all(
                            inside(windows(op), a, b) for a, b in here
                        ):
                            columns.append((r, k, iid, op["id"], s, s + d, here))
    mip = pulp.LpProblem("oracle", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{c}", cat="Binary") for c in range(len(columns))]
    served = [pulp.LpVariable(f"u{r}", cat="Binary") for r in range(len(doc["requests"]))]
    mip += pulp.lpSum(req.get("weight", 1) * served[r] for r, req in enumerate(doc["requests"]))
    by_step: dict[tuple[int, int], list[int]] = {}
    for c, col in enumerate(columns):
        by_step.setdefault((col[0], col[1]), []).append(c)
    for r, req in enumerate(doc["requests"]):
        for k, st in enumerate(req["steps"]):
            mine = by_step.get((r, k), [])
            mip += pulp.lpSum(x[c] for c in mine) == served[r]
            if k == 0:
                continue
            moves = st.get("moves_sample", True)
            for a in by_step.get((r, k - 1), []):
                _, _, ia, _, _, end_a, _ = columns[a]
                too_early = [
                    b
                    for b in mine
                    if columns[b][4]
                    < end_a
                    + (travel.get((site[ia], site[columns[b][2]]), 0) if moves else 0)
                    * (site[ia] != site[columns[b][2]])
                ]
                if too_early:  # step k-1 there rules out every start of step k before then
                    mip += x[a] + pulp.lpSum(x[b] for b in too_early) <= 1
    for t in range(0, horizon, grid):
        for iid, inst in instruments.items():
            tail = inst.get("changeover_minutes", 0)
            here = [
                c for c, col in enumerate(columns) if col[2] == iid and col[4] <= t < col[5] + tail
            ]
            if not here:
                continue
            mip += pulp.lpSum(x[c] for c in here) <= inst.get("capacity", 1)
            for total, k in (("cores", 0), ("gpus", 1)):
                if inst.get(total) is not None:
                    mip += (
                        pulp.lpSum(
                            demand(doc["requests"][columns[c][0]]["steps"][columns[c][1]], inst)[k]
                            * x[c]
                            for c in here
                        )
                        <= inst[total]
                    )
        for op in operators:
            busy = [
                c
                for c, col in enumerate(columns)
                if col[3] == op["id"] and any(a <= t < b for a, b in col[6])
            ]
            if len(busy) > 1:
                mip += pulp.lpSum(x[c] for c in busy) <= 1
    mip.solve(pulp.HiGHS(msg=False, threads=1))
    assert pulp.LpStatus[mip.status] == "Optimal"
    return float(pulp.value(mip.objective) or 0.0)
