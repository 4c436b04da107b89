"""Why a request was left unscheduled, which requirements conflict, and the schedule's KPIs."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from optimizer.core.cpsat import run_cpsat
from optimizer.core.envelope import ABSOLUTE_GAP_TOLERANCE, Explanation, Status, relative_gap
from optimizer.core.runner import SolveContext
from optimizer.instruments.costs import penalised
from optimizer.instruments.formulation import ScheduleModel
from optimizer.instruments.greedy import Board
from optimizer.instruments.reasons import PlanBoard, not_reached, span, step_label
from optimizer.instruments.schema import minutes, stamp
from optimizer.instruments.timeline import Placed, Segment, StepData, Timeline, start_ranges

log = logging.getLogger(__name__)


def _when(tl: Timeline, minute: int) -> str:
    return stamp(tl.instance, minute)[:16].replace("T", " ")


# ---------------------------------------------------------------- a request on its own


def alone(tl: Timeline, r: int) -> list[Placed] | None:
    """A placement of request r on an otherwise empty schedule, or None if none exists.

    Exact for one request: :meth:`Board.layers` keeps, for each step and instrument, the
    earliest end, and an earlier end never hurts the next step.
    """
    board = Board(tl)
    layers, failed = board.layers(r)
    return None if failed is not None else board.walk_back(r, layers)


def never_fits(tl: Timeline, r: int) -> tuple[str, str] | None:
    """(code, detail) when request r cannot be scheduled even alone, else None."""
    req = tl.requests[r]
    # Each step may fit a quota or budget while all of them together do not: placing the
    # request alone checks steps one by one, so the sum comes first.
    too_small = _too_small(tl, r, req.steps, "its steps") if len(req.steps) > 1 else None
    if too_small is not None:
        return too_small
    if alone(tl, r) is not None:
        return None
    ids = tl.instrument_ids
    before = 0
    after = sum(s.duration for s in req.steps)
    for step in req.steps:
        after -= step.duration
        lo, hi = req.release + before, req.deadline - after
        before += step.duration
        what = step_label(step)
        if step.pin is not None:
            conflict = pin_conflict(tl, step, lo, hi)
            if conflict is not None:
                return conflict
        quota_ok = [i for i in step.instruments if tl.within_limits(r, i, step.duration)]
        if not quota_ok:
            return _too_small(tl, r, [step], what)
        windows = [i for i in quota_ok if start_ranges(tl.free[i], step.duration, lo, hi)]
        if not windows:
            return (
                "no_window",
                f"{what}: no eligible instrument ({', '.join(ids[i] for i in quota_ok)}) has a "
                f"free window that long between {_when(tl, lo)} and {_when(tl, hi)}"
                f"{_longest(tl, [(ids[i], tl.free[i]) for i in quota_ok], lo, hi)}",
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
                    f"while {', '.join(ids[i] for i in windows)} is free"
                    + _longest(
                        tl,
                        [
                            (tl.operator_ids[o], tl.operator_free[o])
                            for o in sorted({o for i in windows for o in tl.operators_for(i)})
                        ],
                        lo,
                        hi,
                        "shift",
                    ),
                )
    too_small = _too_small(tl, r, req.steps, "its steps")
    if too_small is not None:
        return too_small
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
    what = f"{step_label(step)} is pinned on {iid} at {_when(tl, s)}"
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
    if not tl.within_limits(step.request, i, d):
        limit = next(x for x in tl.limits_for(req.institution) if x.units(i, d) > x.cap)
        return (
            f"{limit.kind}_too_small",
            f"{what}, beyond the {limit.kind} of {req.institution} on "
            f"{limit.instrument_type or 'every type'}",
        )
    if step.operator_required and not any(
        any(a <= s and s + d <= b for a, b in tl.operator_free[o]) for o in tl.operators_for(i)
    ):
        return ("pin_no_operator", f"{what}, when no qualified operator is on shift")
    return None


def _longest(
    tl: Timeline, resources: list[tuple[str, list[Segment]]], lo: int, hi: int, what: str = "window"
) -> str:
    """``; the longest window of X is … (N min)``: the constraint that is too short, named."""
    best: tuple[int, str, int, int] | None = None
    for name, segments in resources:
        for a, b in segments:
            a, b = max(a, lo), min(b, hi)
            if b > a and (best is None or b - a > best[0]):
                best = (b - a, name, a, b)
    if best is None:
        return f"; no {what} of {', '.join(n for n, _ in resources) or 'anyone'} falls in it"
    length, name, a, b = best
    return f"; the longest {what} there is {name}'s {span(tl, a, b)} ({length} min)"


def _too_small(tl: Timeline, r: int, steps: list[StepData], what: str) -> tuple[str, str] | None:
    """(code, detail) for a quota or budget smaller than the least these steps need of it."""
    req = tl.requests[r]
    for limit in tl.limits_for(req.institution):
        need = sum(min(limit.units(i, s.duration) for i in s.instruments) for s in steps)
        if need > limit.cap:
            return (
                f"{limit.kind}_too_small",
                f"{what} {'need' if len(steps) > 1 else 'needs'} at least "
                f"{limit.describe(need)} of the {limit.kind} of "
                f"{req.institution} on {limit.instrument_type or 'every type'}, which is "
                f"{limit.describe(limit.cap)}",
            )
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


def unscheduled(tl: Timeline, placed: list[Placed], proof: str | None = None) -> list[Explanation]:
    """One explanation per unscheduled request: it never fits, or the constraint that binds
    it in this plan (:mod:`optimizer.instruments.reasons`). ``proof``, when the plan is not
    proven optimal, ends each reason: the request might be served in a better plan."""
    served = {p.request for p in placed}
    board = PlanBoard(tl, placed)
    out = []
    for r, req in enumerate(tl.requests):
        if r in served:
            continue
        reason = never_fits(tl, r)
        if reason is not None:
            code, detail = reason
            out.append(Explanation(subject=req.id, code=code, detail=f"{req.id}: {detail}"))
            continue
        found = board.limit_reason(r)
        if found is None:
            fit = board.fit(r)
            found = (
                not_reached(tl, r, fit, placed) if isinstance(fit, list) else board.binding(r, *fit)
            )
        if proof is not None:
            found.detail = f"{found.detail}; {proof}"
        out.append(found)
    return out


def proof_note(
    tl: Timeline,
    status: Status,
    kpis: dict[str, Any],
    bound: float | None,
    payload: dict[str, Any] | None = None,
) -> str | None:
    """What an unscheduled request's reason must add when the plan is not proven optimal:
    the gap between the plan's objective (read from its KPIs) and the bound."""
    if tl.instance.previous is not None:
        # The re-plan's objective nets the change cost, which only the shared path counts.
        if status == Status.OPTIMAL:
            return None
        return "not proven: the solve stopped before its bound met the plan"
    key = {
        "max_weighted_served": "served_weight",
        "min_makespan": "makespan_minutes",
        "min_weighted_tardiness": "weighted_tardiness_minutes",
    }[tl.instance.objective]
    objective = float(kpis[key])
    if tl.instance.fair_share_penalty and payload is not None:
        objective = penalised(tl.instance, objective, payload)
    gap = relative_gap(objective, bound)
    if bound is not None and (abs(objective - bound) <= ABSOLUTE_GAP_TOLERANCE or gap == 0):
        return None
    if status == Status.OPTIMAL and bound is None:
        return None  # proven without a bound: the shared path sets the bound to the objective
    if gap is None:
        return "not proven: the solve stopped with no bound to compare"
    return f"not proven: the solve stopped at a {100 * gap:.1f} % gap"


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
