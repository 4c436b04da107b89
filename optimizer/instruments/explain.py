"""Why a request was left unscheduled, which requirements conflict, and the schedule's KPIs."""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from typing import Any

from optimizer.core.cpsat import run_cpsat
from optimizer.core.envelope import Explanation, Status
from optimizer.core.runner import SolveContext
from optimizer.instruments.formulation import ScheduleModel
from optimizer.instruments.greedy import Board
from optimizer.instruments.schema import minutes, stamp
from optimizer.instruments.timeline import Placed, StepData, Timeline, start_ranges

log = logging.getLogger(__name__)


def _when(tl: Timeline, minute: int) -> str:
    return stamp(tl.instance, minute)[:16].replace("T", " ")


# ---------------------------------------------------------------- a request on its own


def alone(tl: Timeline, r: int) -> list[Placed] | None:
    """A placement of request r on an otherwise empty schedule, or None if none exists.

    Exact for one request: for each step and instrument the earliest end is kept, and an
    earlier end never hurts the next step (windows are fixed, travel is added after).
    """
    board = Board(tl)
    req = tl.requests[r]
    layers: list[dict[int, Placed]] = []
    for k, step in enumerate(req.steps):
        prev = layers[-1] if layers else None
        here: dict[int, Placed] = {}
        for i in [step.pin[0]] if step.pin is not None else step.instruments:
            quota = tl.quotas.get((req.institution, tl.instrument_type[i]))
            if quota is not None and quota < step.duration:
                continue
            ready = (
                req.release
                if prev is None
                else min(p.end + tl.travel_before(step, p.instrument, i) for p in prev.values())
            )
            if step.pin is not None:
                s = step.pin[1]
                hit = board.earliest(step, i, s, req.deadline) if s >= ready else None
                hit = hit if hit is not None and hit[0] == s else None
            else:
                hit = board.earliest(step, i, ready, req.deadline)
            if hit is not None:
                here[i] = Placed(r, k, i, hit[1], hit[0], hit[0] + step.duration)
        if not here:
            return None
        layers.append(here)
    # Walk back from the earliest-ending last step; each predecessor exists by construction.
    chain: list[Placed] = []
    nxt: Placed | None = None
    for layer in reversed(layers):
        if nxt is None:
            p = min(layer.values(), key=lambda p: p.end)
        else:
            after = nxt
            p = min(
                (
                    q
                    for q in layer.values()
                    if q.end
                    + tl.travel_before(req.steps[after.step], q.instrument, after.instrument)
                    <= after.start
                ),
                key=lambda q: q.end,
            )
        chain.append(p)
        nxt = p
    return list(reversed(chain))


def never_fits(tl: Timeline, r: int) -> tuple[str, str] | None:
    """(code, detail) when request r cannot be scheduled even alone, else None."""
    req = tl.requests[r]
    if alone(tl, r) is not None:
        return None
    ids = tl.instrument_ids
    before = 0
    after = sum(s.duration for s in req.steps)
    for step in req.steps:
        after -= step.duration
        lo, hi = req.release + before, req.deadline - after
        before += step.duration
        what = f"step {step.index} ({step.name}, {step.duration} min)"
        if step.pin is not None:
            conflict = pin_conflict(tl, step, lo, hi)
            if conflict is not None:
                return conflict
        quota_ok = [
            i
            for i in step.instruments
            if tl.quotas.get((req.institution, tl.instrument_type[i]), step.duration)
            >= step.duration
        ]
        if not quota_ok:
            return (
                "quota_too_small",
                f"{what} needs more minutes than the quota of {req.institution} allows on "
                f"{', '.join(sorted({tl.instrument_type[i] for i in step.instruments}))}",
            )
        windows = [i for i in quota_ok if start_ranges(tl.free[i], step.duration, lo, hi)]
        if not windows:
            return (
                "no_window",
                f"{what}: no eligible instrument ({', '.join(ids[i] for i in quota_ok)}) has a "
                f"free window that long between {_when(tl, lo)} and {_when(tl, hi)}",
            )
        if step.operator_required:
            staffed = [
                i
                for i in windows
                for o in tl.operators_for(i)
                if _overlap_ranges(tl, i, o, step.duration, lo, hi)
            ]
            if not staffed:
                return (
                    "no_operator",
                    f"{what}: no qualified operator is available for {step.duration} min "
                    f"while {', '.join(ids[i] for i in windows)} is free",
                )
    by_type: dict[str, int] = defaultdict(int)
    for step in req.steps:
        types = {tl.instrument_type[i] for i in step.instruments}
        if len(types) == 1:
            by_type[types.pop()] += step.duration
    for t, need in by_type.items():
        quota = tl.quotas.get((req.institution, t))
        if quota is not None and quota < need:
            return (
                "quota_too_small",
                f"its steps need {need} min of {t} but the quota of {req.institution} is {quota}",
            )
    span = req.deadline - req.release
    return (
        "does_not_fit_in_order",
        f"its {len(req.steps)} steps ({sum(s.duration for s in req.steps)} min plus travel) "
        f"cannot be placed in order within its {span} min between release and deadline, "
        "given availability, maintenance and operators",
    )


def pin_conflict(tl: Timeline, step: StepData, lo: int, hi: int) -> tuple[str, str] | None:
    """(code, detail) naming what rules out a pinned step's slot on its own, else None:
    maintenance, availability, the request's window, the horizon, the quota, operators."""
    assert step.pin is not None
    i, s = step.pin
    d = step.duration
    req = tl.requests[step.request]
    inst = tl.instance.instruments[i]
    iid = tl.instrument_ids[i]
    what = f"step {step.index} ({step.name}, {d} min) is pinned on {iid} at {_when(tl, s)}"
    for w in inst.maintenance:
        a, b = minutes(tl.instance, w.start), minutes(tl.instance, w.end)
        if s < b and a < s + d:
            return (
                "pin_in_maintenance",
                f"{what}, during maintenance of {iid} from {_when(tl, a)} to {_when(tl, b)}",
            )
    if s < 0 or s + d > tl.horizon:
        return ("pin_outside_horizon", f"{what}, outside the horizon")
    if not any(a <= s and s + d <= b for a, b in tl.free[i]):
        return ("pin_unavailable", f"{what}, outside the availability of {iid}")
    if s < lo or s + d > hi:
        return (
            "pin_outside_window",
            f"{what}, but its release, deadline and other steps leave it only "
            f"{_when(tl, lo)} to {_when(tl, hi)}",
        )
    quota = tl.quotas.get((req.institution, tl.instrument_type[i]))
    if quota is not None and quota < d:
        return (
            "quota_too_small",
            f"{what}, beyond the quota of {req.institution} on {tl.instrument_type[i]}",
        )
    if step.operator_required and not any(
        any(a <= s and s + d <= b for a, b in tl.operator_free[o]) for o in tl.operators_for(i)
    ):
        return ("pin_no_operator", f"{what}, when no qualified operator is on shift")
    return None


def _overlap_ranges(tl: Timeline, i: int, o: int, d: int, lo: int, hi: int) -> bool:
    a = start_ranges(tl.free[i], d, lo, hi)
    b = start_ranges(tl.operator_free[o], d, lo, hi)
    return any(max(x0, y0) <= min(x1, y1) for x0, x1 in a for y0, y1 in b)


def static_conflicts(tl: Timeline) -> list[Explanation]:
    """Requests that must be served but cannot be, even alone: infeasible before solving."""
    out = []
    for r, req in enumerate(tl.requests):
        if not req.must:
            continue
        reason = never_fits(tl, r)
        if reason is not None:
            code, detail = reason
            why = "frozen (a booking started before options.now)" if req.frozen else "mandatory"
            out.append(
                Explanation(
                    subject=req.id,
                    code=code,
                    detail=f"{req.id} is {why} but can never be scheduled: {detail}",
                )
            )
    return out


# ---------------------------------------------------------------- unscheduled requests


def unscheduled(tl: Timeline, placed: list[Placed]) -> list[Explanation]:
    """One explanation per unscheduled request: it never fits, or who holds its slots."""
    served = {p.request for p in placed}
    bookings = _Bookings(tl, placed)
    out = []
    for r, req in enumerate(tl.requests):
        if r in served:
            continue
        reason = never_fits(tl, r)
        if reason is not None:
            code, detail = reason
            out.append(Explanation(subject=req.id, code=code, detail=f"{req.id}: {detail}"))
            continue
        out.append(_displaced(tl, r, bookings))
    return out


class _Bookings:
    """The kept bookings, indexed once for every unscheduled request's explanation.

    Scanning every booking per unscheduled request took 12 s for 8,800 of them against
    1,200 bookings; by institution and by instrument in time order it is a lookup.
    """

    def __init__(self, tl: Timeline, placed: list[Placed]) -> None:
        self.used: dict[tuple[str, str], int] = defaultdict(int)
        self.holders: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.on: dict[int, list[Placed]] = defaultdict(list)
        for p in placed:
            key = (tl.requests[p.request].institution, tl.instrument_type[p.instrument])
            self.used[key] += p.end - p.start
            self.holders[key].add(tl.requests[p.request].id)
            self.on[p.instrument].append(p)
        for row in self.on.values():
            row.sort(key=lambda p: p.start)
        # Bookings on one instrument never overlap, so in start order their ends rise too.
        self.ends = {i: [p.end for p in row] for i, row in self.on.items()}

    def meeting(self, instrument: int, a: int, b: int) -> list[Placed]:
        """Bookings on ``instrument`` that overlap [a, b)."""
        row = self.on.get(instrument, [])
        first = bisect.bisect_right(self.ends.get(instrument, []), a)
        out = []
        for p in row[first:]:
            if p.start >= b:
                break
            out.append(p)
        return out


def _displaced(tl: Timeline, r: int, bookings: _Bookings) -> Explanation:
    req = tl.requests[r]
    ids = tl.instrument_ids
    # Quota first: if the institution's own bookings exhaust it, that is the reason.
    for step in req.steps:
        for t in {tl.instrument_type[i] for i in step.instruments}:
            quota = tl.quotas.get((req.institution, t))
            used = bookings.used[(req.institution, t)]
            if (
                quota is not None
                and used + step.duration > quota
                and all(tl.instrument_type[i] == t for i in step.instruments)
            ):
                names = sorted(bookings.holders[(req.institution, t)])
                return Explanation(
                    subject=req.id,
                    code="quota_exhausted",
                    detail=(
                        f"{req.id}: {req.institution} has booked {used} of its {quota} min on "
                        f"{t} for {', '.join(names[:5])}{' …' if len(names) > 5 else ''}; "
                        f"step {step.index} needs {step.duration} more"
                    ),
                    related=names,
                )
    # Who holds the slots it could use between its release and deadline, heaviest overlap first.
    overlap: dict[int, int] = defaultdict(int)
    eligible = {i for s in req.steps for i in s.instruments}
    for i in eligible:
        for p in bookings.meeting(i, req.release, req.deadline):
            overlap[p.request] += min(p.end, req.deadline) - max(p.start, req.release)
    ranked = sorted(overlap, key=lambda q: (-overlap[q], q))
    names = [tl.requests[q].id for q in ranked]
    shown = [f"{tl.requests[q].id} (weight {tl.requests[q].weight:g})" for q in ranked[:5]]
    window = f"{_when(tl, req.release)} – {_when(tl, req.deadline)}"
    where = ", ".join(sorted(ids[i] for i in eligible))
    if not names:
        detail = (
            f"{req.id} (weight {req.weight:g}) fits alone, but its operators or the order of "
            f"its steps clash with the bookings kept on {where} in {window}"
        )
    else:
        detail = (
            f"{req.id} (weight {req.weight:g}) fits alone, but {where} "
            f"{'is' if len(eligible) == 1 else 'are'} held in {window} by "
            f"{', '.join(shown)}{' and others' if len(names) > 5 else ''}"
        )
    return Explanation(subject=req.id, code="displaced", detail=detail, related=names[:10])


def greedy_failures(tl: Timeline, failed: list[int]) -> list[Explanation]:
    return [
        Explanation(
            subject=tl.requests[r].id,
            code="greedy_could_not_place",
            detail=(
                f"first-come-first-served could not place {tl.requests[r].id}, which must be "
                "served; solver cp-sat searches all orders"
            ),
        )
        for r in failed
    ]


# ---------------------------------------------------------------- infeasible instances


def infeasible_core(tl: Timeline, context: SolveContext) -> list[Explanation]:
    """A small set of mandatory requests and pins that cannot all hold, from CP-SAT cores."""
    sm = ScheduleModel(tl, relax_must=True)
    names = sm.assumptions

    def core_of(keys: list[int], limit: float) -> list[int] | None:
        sm.model.clear_assumptions()
        sm.model.add_assumptions([sm.assumption_literals[k] for k in keys])
        # One worker: with more, CP-SAT gives every assumption as the core (or-tools #3102).
        run = run_cpsat(sm.model, context, time_limit=max(0.05, limit), threads=1, report=False)
        if run.status != Status.INFEASIBLE:
            return None
        return list(run.solver.sufficient_assumptions_for_infeasibility())

    budget = min(10.0, max(1.0, context.remaining()))
    core = core_of(list(names), budget)
    if core is None:
        return [
            Explanation(
                subject=tl.instance.name or "instance",
                code="infeasible",
                detail="the mandatory requests and pins cannot all hold together",
            )
        ]
    # Shrink by deletion while it is small enough to afford.
    if len(core) <= 12:
        k = 0
        while k < len(core) and context.remaining() > 0.5:
            trial = core[:k] + core[k + 1 :]
            if trial and core_of(trial, min(2.0, context.remaining())) is not None:
                core = trial
            else:
                k += 1
    labels = []
    for key in core:
        what, r, step = names[key]
        rid = tl.requests[r].id
        labels.append((rid, what, step))
    related = sorted({rid for rid, _, _ in labels})
    described = ", ".join(
        f"{rid} step {step} pinned" if what == "pin" else f"{rid} served"
        for rid, what, step in labels
    )
    return [
        Explanation(
            subject=rid,
            code="conflicting_pin" if what == "pin" else "conflicting_mandatory",
            detail=f"these cannot all hold together: {described}",
            related=[x for x in related if x != rid],
        )
        for rid, what, step in labels
    ]


# ---------------------------------------------------------------- KPIs


def kpis(tl: Timeline, placed: list[Placed]) -> dict[str, Any]:
    ids = tl.instrument_ids
    booked: dict[str, int] = {x: 0 for x in ids}
    by_institution: dict[str, int] = defaultdict(int)
    by_site: dict[str, int] = defaultdict(int)
    last: dict[int, int] = {}
    for p in placed:
        minutes = p.end - p.start
        booked[ids[p.instrument]] += minutes
        by_institution[tl.requests[p.request].institution] += minutes
        by_site[tl.site_ids[tl.instrument_site[p.instrument]]] += minutes
        last[p.request] = max(last.get(p.request, 0), p.end)
    # A parallel instrument offers its bookable minutes once per booking it holds (6.7).
    free = {ids[i]: tl.capacity[i] * sum(b - a for a, b in seg) for i, seg in enumerate(tl.free)}
    served = set(last)
    tardiness = 0.0
    late = 0
    for r, end in last.items():
        due = tl.requests[r].due
        if due is not None and end > due:
            late += 1
            tardiness += tl.requests[r].weight * (end - due)
    return {
        "requests": len(tl.requests),
        "served_requests": len(served),
        "unscheduled_requests": len(tl.requests) - len(served),
        "served_weight": sum(tl.requests[r].weight for r in served),
        "total_weight": sum(r.weight for r in tl.requests),
        "weighted_tardiness_minutes": tardiness,
        "late_requests": late,
        "makespan_minutes": max((p.end for p in placed), default=0),
        "utilisation": {x: round(booked[x] / free[x], 4) if free[x] else 0.0 for x in ids},
        "booked_minutes_by_instrument": booked,
        "booked_minutes_by_institution": dict(sorted(by_institution.items())),
        "booked_minutes_by_site": dict(sorted(by_site.items())),
    }
