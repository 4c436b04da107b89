"""Re-planning an instruments week against ``previous``: what keeping a booking is worth.

Each booking of the previous plan that is not kept exactly (same request, step, instrument
and start) costs ``change_penalty``. Keeping one is therefore worth the penalty: the models
add it for each kept booking and take the constant cost of changing every booking off the
bound, so they optimise exactly the objective the shared path reports (contract 3.8).
Bookings that start before ``options.now`` are frozen: their request must be served and
the step stays where it is, like a pin.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from optimizer.core.envelope import Explanation, Options
from optimizer.core.plans import PlanDiff
from optimizer.instruments.plan import booking_key
from optimizer.instruments.schema import (
    Instrument,
    InstrumentsInstance,
    Request,
    minutes,
    stamp,
)
from optimizer.instruments.timeline import Placed, Timeline


@dataclass(frozen=True)
class Replan:
    """The previous plan as the models see it."""

    penalty: float
    total: int
    """Bookings of the previous plan: each one not kept costs ``penalty``."""
    slots: list[Placed]
    """Those that name a request, a step and an instrument of this instance, in minutes
    (the operator is the one the plan had, if still known)."""

    def kept(self, placed: list[Placed]) -> int:
        """Bookings of ``placed`` that keep a previous booking exactly."""
        at = {(p.request, p.step): (p.instrument, p.start) for p in placed}
        return sum(at.get((q.request, q.step)) == (q.instrument, q.start) for q in self.slots)

    def combined(self, value: float, kept: int, maximize: bool) -> float:
        """The objective with the change cost, for a plan worth ``value`` keeping ``kept``."""
        cost = self.penalty * (self.total - kept)
        return value - cost if maximize else value + cost

    def bound(self, base: float, keepable: int, maximize: bool) -> float:
        """A bound on the combined objective from a bound on the base one: no plan keeps
        more than ``keepable`` bookings."""
        return self.combined(base, keepable, maximize)


def prepare(tl: Timeline, options: Options) -> tuple[Replan | None, list[Explanation]]:
    """Read ``previous`` onto the timeline (each request's previous bookings; frozen
    bookings as pins of a must-serve request), or explain why its frozen bookings cannot
    stay. None when there is no previous plan."""
    instance = tl.instance
    if instance.previous is None or instance.previous.bookings is None:
        return None, []
    request_index = {r.id: k for k, r in enumerate(tl.requests)}
    instrument_index = {x: k for k, x in enumerate(tl.instrument_ids)}
    operator_index = {x: k for k, x in enumerate(tl.operator_ids)}
    slots: list[Placed] = []
    problems: list[Explanation] = []
    now = None if options.now is None else minutes(instance, options.now)
    for b in instance.previous.bookings:
        r = request_index.get(b.request)
        i = instrument_index.get(b.instrument)
        s = minutes(instance, b.start)
        frozen = now is not None and s < now
        if r is None or i is None or b.step >= len(tl.requests[r].steps):
            if frozen:
                gone = (
                    f"request {b.request}" if r is None
                    else f"instrument {b.instrument}" if i is None
                    else f"step {b.step} of {b.request}"
                )  # fmt: skip
                problems.append(_gone(b.request, b.step, b.instrument, b.start, gone))
            continue
        step = tl.requests[r].steps[b.step]
        op = None if b.operator is None else operator_index.get(b.operator)
        slot = Placed(r, b.step, i, op, s, s + step.duration)
        slots.append(slot)
        if not frozen:
            continue
        if step.pin is not None and step.pin != (i, s):
            problems.append(
                Explanation(
                    subject=b.request,
                    code="frozen_conflict",
                    detail=(
                        f"{booking_key(b.request, b.step)} started on {b.instrument} at "
                        f"{b.start.isoformat()}, before options.now, but is now pinned on "
                        f"{tl.instrument_ids[step.pin[0]]} at {stamp(instance, step.pin[1])}"
                    ),
                )
            )
            continue
        tl.requests[r].frozen = True
        tl.requests[r].must = True
        # A session under way keeps its operator while that operator can still staff it.
        staff = None
        if op is not None and i in tl.qualified[op]:
            on_shift = all(
                any(a <= s + x and s + y <= z for a, z in tl.operator_free[op])
                for x, y in step.attended
            )
            staff = op if on_shift else None
        tl.requests[r].steps[b.step] = dataclasses.replace(step, pin=(i, s), pin_operator=staff)
    by_request: dict[int, list[tuple[int, int, int]]] = {}
    for q in slots:
        by_request.setdefault(q.request, []).append((q.step, q.instrument, q.start))
    for r, booked in by_request.items():
        tl.requests[r].previous = tuple(sorted(booked))
    replan = Replan(options.change_penalty, len(instance.previous.bookings), slots)
    return replan, problems


def _gone(request: str, step: int, instrument: str, start: datetime, what: str) -> Explanation:
    return Explanation(
        subject=request,
        code="frozen_conflict",
        detail=(
            f"{booking_key(request, step)} started on {instrument} at {start.isoformat()}, "
            f"before options.now, so it is frozen; but {what} is no longer in the instance"
        ),
    )


def frozen(instance: InstrumentsInstance, previous: dict[str, Any]) -> set[str]:
    """Keys of the previous plan's bookings that start before ``options.now``."""
    now = instance.options.now
    if now is None:
        return set()
    return {
        booking_key(b["request"], b["step"])
        for b in previous.get("bookings", [])
        if datetime.fromisoformat(b["start"]) < now
    }


def change_reasons(instance: InstrumentsInstance, changes: PlanDiff) -> dict[str, str]:
    """Why a previous booking was moved or dropped, where the new instance forces it: the
    request, step or instrument gone, maintenance or unavailability over its slot, the
    request's window, a pin elsewhere, no qualified operator on shift."""
    given_up = [(d.item, d.value) for d in changes.dropped_items]
    given_up += [(m.item, m.before) for m in changes.moved_items]
    if not given_up or instance.previous is None:
        return {}
    operator_of = {
        booking_key(b.request, b.step): b.operator for b in instance.previous.bookings or []
    }
    requests = {r.id: r for r in instance.requests}
    instruments = {i.id: i for i in instance.instruments}
    reasons: dict[str, str] = {}
    for item, before in given_up:
        reason = _forced(instance, requests, instruments, item, before, operator_of.get(item))
        if reason is not None:
            reasons[item] = reason
    return reasons


def _when(value: datetime, tz: Any) -> str:
    return value.astimezone(tz).isoformat()[:16].replace("T", " ")


def _forced(
    instance: InstrumentsInstance,
    requests: dict[str, Request],
    instruments: dict[str, Instrument],
    item: str,
    before: dict[str, Any],
    operator: str | None,
) -> str | None:
    """What in ``instance`` rules out the booking ``item`` where it was, if anything."""
    tz = instance.horizon.start.tzinfo
    request_id, _, step_text = item.rpartition("#")
    req = requests.get(request_id)
    if req is None:
        return f"request {request_id} is no longer in the instance"
    k = int(step_text)
    if k >= len(req.steps):
        return f"request {request_id} no longer has step {k}"
    inst = instruments.get(before["instrument"])
    if inst is None:
        return f"instrument {before['instrument']} is no longer in the instance"
    step = req.steps[k]
    if inst.id not in instance.eligible(step):
        return f"{inst.id} is no longer eligible for step {k} of {request_id}"
    start = datetime.fromisoformat(before["start"])
    end = start + timedelta(minutes=step.duration_minutes)
    for w in inst.maintenance:
        if start < w.end and w.start < end:
            return f"maintenance on {inst.id} from {_when(w.start, tz)} to {_when(w.end, tz)}"
    if inst.availability is not None and not any(
        w.start <= start and end <= w.end for w in inst.availability
    ):
        return f"{inst.id} is no longer available from {_when(start, tz)} to {_when(end, tz)}"
    if start < instance.horizon.start or end > instance.horizon.end:
        return "the slot is no longer inside the horizon"
    if req.release is not None and start < req.release and k == 0:
        return f"request {request_id} is now released at {_when(req.release, tz)}"
    if req.deadline is not None and end > req.deadline:
        return f"request {request_id} now has its deadline at {_when(req.deadline, tz)}"
    for pin in req.pinned:
        if pin.step == k and (pin.instrument != inst.id or pin.start != start):
            return f"step {k} of {request_id} is now pinned on {pin.instrument} at {_when(pin.start, tz)}"
    if step.operator_required:
        # Only the attended parts need the operator (contract 6.7).
        parts = [
            (start + timedelta(minutes=a), start + timedelta(minutes=b))
            for a, b in step.attended_parts()
        ]
        on_shift = [
            o
            for o in instance.operators
            if inst.id in o.instruments
            and (
                o.availability is None
                or all(any(w.start <= x and y <= w.end for w in o.availability) for x, y in parts)
            )
        ]
        if not on_shift:
            who = f" ({operator} is off)" if operator is not None else ""
            return (
                f"no operator qualified for {inst.id} is on shift from {_when(start, tz)} "
                f"to {_when(end, tz)}{who}"
            )
    return None
