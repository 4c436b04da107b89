"""Independent check of an instruments schedule: every hard rule, the objective recomputed.

Written from the contract alone, in datetimes rather than the solvers' integer minutes, and
without importing the timeline, the greedy or the model, so a bug there cannot hide here.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from optimizer.core.envelope import Verification
from optimizer.core.numbers import exact, exact_sum
from optimizer.instruments.costs import check_budgets, penalised
from optimizer.instruments.schema import Instrument, InstrumentsInstance, Step, Window

MINUTE = timedelta(minutes=1)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _inside_one(windows: list[Window] | None, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside one window, windows that touch or overlap counting
    as one (their union), as contract 6.2 reads them."""
    if windows is None:
        return True
    joined: list[list[datetime]] = []
    for w in sorted(windows, key=lambda w: w.start):
        if joined and w.start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], w.end)
        else:
            joined.append([w.start, w.end])
    return any(a <= start and end <= b for a, b in joined)


def _travel(instance: InstrumentsInstance) -> dict[tuple[str, str], int]:
    given = {(t.from_, t.to): t.minutes for t in instance.travel}
    both = dict(given)
    for (a, b), m in given.items():
        both.setdefault((b, a), m)
    return both


def verify(instance: InstrumentsInstance, solution: dict[str, Any]) -> Verification:
    bad: list[str] = []
    h = instance.horizon
    offset = h.start.utcoffset()
    instruments = {i.id: i for i in instance.instruments}
    operators = {o.id: o for o in instance.operators}
    requests = {r.id: r for r in instance.requests}
    site_of = {i.id: i.site for i in instance.instruments}
    travel = _travel(instance)

    booked: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for n, b in enumerate(solution.get("bookings", [])):
        where = f"booking {n} ({b.get('request')} step {b.get('step')})"
        req = requests.get(b.get("request"))
        if req is None:
            bad.append(f"{where}: unknown request")
            continue
        step_no = b.get("step")
        if not isinstance(step_no, int) or not 0 <= step_no < len(req.steps):
            bad.append(f"{where}: no such step")
            continue
        start, end = _parse(b.get("start")), _parse(b.get("end"))
        if start is None or end is None:
            bad.append(f"{where}: start and end must be ISO datetimes with a UTC offset")
            continue
        if start.utcoffset() != offset or end.utcoffset() != offset:
            bad.append(f"{where}: times are not written in the horizon's UTC offset")
        if start.second or start.microsecond or end.second or end.microsecond:
            bad.append(f"{where}: times are not on whole minutes")
        if step_no in booked[req.id]:
            bad.append(f"{where}: the step is booked twice")
        booked[req.id][step_no] = {**b, "start": start, "end": end}

    served: list[str] = []
    for req in instance.requests:
        steps = booked.get(req.id, {})
        if not steps:
            continue
        if len(steps) != len(req.steps):
            bad.append(
                f"request {req.id} is partly booked ({len(steps)} of {len(req.steps)} steps)"
            )
            continue
        served.append(req.id)
        release = req.release or h.start
        deadline = req.deadline or h.end
        prev = None
        for s, step in enumerate(req.steps):
            b = steps[s]
            where = f"request {req.id} step {s}"
            inst = instruments.get(b["instrument"])
            if inst is None:
                bad.append(f"{where}: unknown instrument {b['instrument']!r}")
                continue
            eligible = (
                step.instruments
                if step.instruments is not None
                else [i.id for i in instance.instruments if i.type == step.instrument_type]
            )
            if inst.id not in eligible:
                bad.append(f"{where}: instrument {inst.id} is not eligible")
            if b["end"] - b["start"] != timedelta(minutes=step.duration_minutes):
                bad.append(
                    f"{where}: lasts {b['end'] - b['start']}, not {step.duration_minutes} min"
                )
            if b["start"] < max(release, h.start) or b["end"] > min(deadline, h.end):
                bad.append(f"{where}: outside [release, deadline] within the horizon")
            if not _inside_one(inst.availability, b["start"], b["end"]):
                bad.append(f"{where}: not inside one availability window of {inst.id}")
            for w in inst.maintenance:
                if b["start"] < w.end and w.start < b["end"]:
                    bad.append(f"{where}: overlaps maintenance of {inst.id} from {w.start}")
            if prev is not None:
                gap = travel.get((site_of[prev["instrument"]], inst.site), 0)
                if site_of[prev["instrument"]] == inst.site or not step.moves_sample:
                    gap = 0
                if b["start"] < prev["end"] + gap * MINUTE:
                    bad.append(f"{where}: starts before step {s - 1} ends plus {gap} min travel")
            op = b.get("operator")
            if step.operator_required and op is None:
                bad.append(f"{where}: needs an operator")
            if op is not None:
                operator = operators.get(op)
                if operator is None:
                    bad.append(f"{where}: unknown operator {op!r}")
                elif inst.id not in operator.instruments:
                    bad.append(f"{where}: operator {op} is not qualified for {inst.id}")
                elif step.attended_minutes is None:
                    if not _inside_one(operator.availability, b["start"], b["end"]):
                        bad.append(f"{where}: operator {op} is not available for the whole step")
                else:
                    for s0, s1 in _attended(step, b["start"], b["end"]):
                        if not _inside_one(operator.availability, s0, s1):
                            bad.append(
                                f"{where}: operator {op} is not available for the attended "
                                f"part from {s0.isoformat()} to {s1.isoformat()}"
                            )
            prev = b
        for pin in req.pinned:
            b = steps[pin.step]
            if b["instrument"] != pin.instrument or b["start"] != pin.start:
                bad.append(f"request {req.id} step {pin.step} is not booked as pinned")

    served_set = set(served)
    _check_resources(instance, booked, served_set, bad)
    _check_quotas(instance, booked, served_set, instruments, bad)
    check_budgets(instance, {"bookings": [b for r in served for b in booked[r].values()]}, bad)
    for req in instance.requests:
        if req.id in served_set:
            continue
        # A pin says where a step runs if the request is served (6.2 rule 7), not that it is.
        if req.mandatory or instance.all_mandatory:
            bad.append(f"request {req.id} must be served but is not")
    listed = solution.get("unscheduled", [])
    if sorted(listed) != sorted(r.id for r in instance.requests if r.id not in served_set):
        bad.append("the unscheduled list does not match the requests left without bookings")

    objective = _objective(instance, booked, served)
    return Verification(checked=True, valid=not bad, violations=bad, objective=objective)


def _attended(step: Step, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of a booked step its operator works (contract 6.7): the whole step, or the
    first ``attended_minutes`` and the last ``attended_end_minutes``, empty parts left out."""
    if step.attended_minutes is None:
        return [(start, end)]
    head = start + step.attended_minutes * MINUTE
    tail = end - step.attended_end_minutes * MINUTE
    if head >= tail:
        return [(start, end)]
    return [(a, b) for a, b in ((start, head), (tail, end)) if b > a]


def _check_resources(instance, booked, served, bad) -> None:
    """Hard: no overlap per instrument (changeover between requests) and per operator's
    attended parts; a parallel instrument within its capacity, cores and gpus."""
    per_instrument: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    per_operator: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    loads: dict[str, list[tuple[datetime, datetime, int, int]]] = defaultdict(list)
    steps = {r.id: r.steps for r in instance.requests}
    instruments = {i.id: i for i in instance.instruments}
    for rid in served:
        for k, b in booked[rid].items():
            inst = instruments.get(b["instrument"])
            step = steps[rid][k]
            if inst is not None and _parallel(inst):
                cores = (1 if step.cores is None else step.cores) if inst.cores is not None else 0
                gpus = step.gpus if inst.gpus is not None else 0
                loads[inst.id].append((b["start"], b["end"], cores, gpus))
            else:
                per_instrument[b["instrument"]].append((b["start"], b["end"], rid))
            if b.get("operator") is not None:
                for s0, s1 in _attended(step, b["start"], b["end"]):
                    per_operator[b["operator"]].append((s0, s1, rid))
    for iid, load in loads.items():
        _check_load(instruments[iid], load, bad)
    changeover = {i.id: i.changeover_minutes for i in instance.instruments}
    for iid, rows in per_instrument.items():
        rows.sort()
        gap = changeover.get(iid, 0) * MINUTE
        for (_s1, e1, r1), (s2, _e2, r2) in itertools.pairwise(rows):
            if s2 < e1:
                bad.append(f"instrument {iid}: bookings of {r1} and {r2} overlap")
            elif r1 != r2 and s2 < e1 + gap:
                bad.append(f"instrument {iid}: less than the changeover between {r1} and {r2}")
    for oid, rows in per_operator.items():
        rows.sort()
        for (_s1, e1, r1), (s2, _e2, r2) in itertools.pairwise(rows):
            if s2 < e1:
                bad.append(f"operator {oid}: steps of {r1} and {r2} overlap")


def _parallel(inst: Instrument) -> bool:
    return inst.capacity > 1 or inst.cores is not None or inst.gpus is not None


def _check_load(inst: Instrument, load: list[tuple[datetime, datetime, int, int]], bad) -> None:
    """Hard: at every moment a parallel instrument runs at most ``capacity`` bookings, and
    their cores and gpus stay within its totals. The load only rises at a start, so the
    starts are the moments to check."""
    for moment in sorted({s for s, *_ in load}):
        running = [(c, g) for s, e, c, g in load if s <= moment < e]
        at = moment.isoformat()
        if len(running) > inst.capacity:
            bad.append(
                f"instrument {inst.id}: {len(running)} bookings at once from {at}, "
                f"capacity {inst.capacity}"
            )
        cores = sum(c for c, _ in running)
        if inst.cores is not None and cores > inst.cores:
            bad.append(f"instrument {inst.id}: {cores} cores in use from {at}, {inst.cores} in all")
        gpus = sum(g for _, g in running)
        if inst.gpus is not None and gpus > inst.gpus:
            bad.append(f"instrument {inst.id}: {gpus} gpus in use from {at}, {inst.gpus} in all")


def _check_quotas(instance, booked, served, instruments, bad) -> None:
    """Hard: booked minutes per institution and instrument type stay within quota."""
    used: dict[tuple[str, str], int] = defaultdict(int)
    institution = {r.id: r.institution for r in instance.requests}
    for rid in served:
        for b in booked[rid].values():
            inst = instruments.get(b["instrument"])
            if inst is not None:
                used[(institution[rid], inst.type)] += (b["end"] - b["start"]) // MINUTE
    for q in instance.quotas:
        if used[(q.institution, q.instrument_type)] > q.max_minutes:
            bad.append(
                f"quota of {q.institution} on {q.instrument_type}: "
                f"{used[(q.institution, q.instrument_type)]} min booked, max {q.max_minutes}"
            )


def _objective(instance: InstrumentsInstance, booked, served: list[str]) -> float:
    requests = {r.id: r for r in instance.requests}
    if instance.objective == "max_weighted_served":
        weight = exact_sum(requests[r].weight for r in served)
        if not instance.fair_share_penalty:
            return weight
        plan = {"bookings": [b for r in served for b in booked[r].values()]}
        return penalised(instance, weight, plan)
    if instance.objective == "min_makespan":
        ends = [b["end"] for r in served for b in booked[r].values()]
        return float(max((e - instance.horizon.start) // MINUTE for e in ends)) if ends else 0.0
    late = []
    for r in served:
        req = requests[r]
        if req.due is None:
            continue
        last = max(b["end"] for b in booked[r].values())
        late.append(exact(req.weight) * max(0, (last - req.due) // MINUTE))
    return exact_sum(late)
