"""Why a request that fits alone was left out of a plan: the constraint that binds it.

The plan's bookings are laid on one board; each unscheduled request is then fitted into it
as it stands, step by step, keeping for each step and instrument the earliest end (an
earlier end never hurts the next step). The first step with no place is the binding one:
its reason names the window it could use there, what bounds that window (the operator's
shift, the instrument's availability, maintenance, the request's release or deadline, the
previous step), and the bookings that hold it. A quota or budget the institution has spent
comes first; a request that fits the plan as it stands was left out only because the
search stopped, and says so.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable

from optimizer.core.envelope import Explanation
from optimizer.instruments.costs import penalised
from optimizer.instruments.greedy import Board
from optimizer.instruments.schema import minutes, stamp
from optimizer.instruments.timeline import (
    Placed,
    Segment,
    StepData,
    Timeline,
    staffed_starts,
    start_ranges,
    to_payload,
)

# Enough to read, short enough for one sentence: windows per instrument, instruments per
# step, and bookings named before "and N more".
SHOWN_WINDOWS = 2
SHOWN_INSTRUMENTS = 3
SHOWN_BOOKINGS = 6


def when(tl: Timeline, minute: int) -> str:
    """``12-01 08:00``: the minute as a person reads it in the horizon's offset."""
    return stamp(tl.instance, minute)[5:16].replace("T", " ")


def clock(tl: Timeline, minute: int) -> str:
    return stamp(tl.instance, minute)[11:16]


def span(tl: Timeline, a: int, b: int) -> str:
    """``12-01 08:00 – 12:00``, or ``12-01 20:00 – 12-02 06:00`` across midnight."""
    end = clock(tl, b) if when(tl, a)[:5] == when(tl, b)[:5] else when(tl, b)
    return f"{when(tl, a)} – {end}"


class PlanBoard:
    """The plan's bookings, laid out once for every unscheduled request's reason."""

    def __init__(self, tl: Timeline, placed: list[Placed]) -> None:
        self.tl = tl
        self.board = Board(tl)
        for p in placed:
            self.board.book(p)
        # By instrument and by operator in start order: a window's bookings are a bisection
        # away, not a scan of the plan per unscheduled request (thousands of each on a
        # large week).
        self.on_instrument = _Rows(placed, lambda p: p.instrument)
        self.on_operator = _Rows(placed, lambda p: p.operator)
        self.holders: dict[str, set[int]] = defaultdict(set)
        for p in placed:
            for limit in tl.limits_for(tl.requests[p.request].institution):
                if limit.units(p.instrument, p.end - p.start):
                    self.holders[limit.name].add(p.request)

    def limit_reason(self, r: int) -> Explanation | None:
        """The quota or budget r's institution has spent, if r's least use no longer fits."""
        tl, req = self.tl, self.tl.requests[r]
        for limit in tl.limits_for(req.institution):
            need = sum(min(limit.units(i, s.duration) for i in _candidates(s)) for s in req.steps)
            used = self.board.limit_used.get(limit.name, 0)
            if need and used + need > limit.cap:
                names = sorted(tl.requests[q].id for q in self.holders[limit.name])
                what = "quota" if limit.kind == "quota" else "budget"
                on = limit.instrument_type or "every type"
                return Explanation(
                    subject=req.id,
                    code=f"{what}_exhausted",
                    detail=(
                        f"{req.id}: {req.institution} has used {limit.describe(used)} of its "
                        f"{limit.describe(limit.cap)} {what} on {on} for "
                        f"{', '.join(names[:5])}{' …' if len(names) > 5 else ''}; "
                        f"{req.id} needs {limit.describe(need)} more"
                    ),
                    related=names,
                )
        return None

    def fit(self, r: int) -> tuple[int, list[Placed]] | list[Placed]:
        """Where r fits into the plan as it stands, or (binding step, the places its previous
        step can have)."""
        layers, failed = self.board.layers(r)
        if failed is not None:
            return failed, list(layers[-1].values()) if layers else []
        return self.board.walk_back(r, layers)

    def binding(self, r: int, k: int, before: list[Placed]) -> Explanation:
        """The reason of an unscheduled r whose step k finds no place after any of the places
        ``before`` of its previous step."""
        tl, req = self.tl, self.tl.requests[r]
        step = req.steps[k]
        after = sum(s.duration for s in req.steps[k + 1 :])
        hi = req.deadline - after
        phrases: list[str] = []
        holders: dict[int, list[Placed]] = {}
        for i in _candidates(step)[:SHOWN_INSTRUMENTS]:
            lo = (
                min(p.end + tl.travel_before(step, p.instrument, i) for p in before)
                if before
                else req.release
            )
            windows = self._windows(step, i, lo, hi)
            if not windows:
                continue
            shown = []
            for a, b in windows[:SHOWN_WINDOWS]:
                left, right = self._bounds(r, k, i, a, b, lo, hi)
                bounds = f"within {left}" if left == right else f"{left} to {right}"
                shown.append(f"{span(tl, a, b)} ({bounds})")
                for p in self._holding(step, i, a, b):
                    holders.setdefault(p.request, []).append(p)
            more = (
                f" and {len(windows) - SHOWN_WINDOWS} more" if len(windows) > SHOWN_WINDOWS else ""
            )
            phrases.append(f"on {tl.instrument_ids[i]} only {', '.join(shown)}{more}")
        what = step_label(step)
        ranked = sorted(holders, key=lambda q: (min(p.start for p in holders[q]), q))
        names = [tl.requests[q].id for q in ranked]
        held = [
            f"{tl.requests[p.request].id} ({self._where(p)})"
            for q in ranked[:SHOWN_BOOKINGS]
            for p in holders[q][:1]
        ]
        rest = f" and {len(ranked) - SHOWN_BOOKINGS} more" if len(ranked) > SHOWN_BOOKINGS else ""
        if not phrases:
            detail = (
                f"{req.id} (weight {req.weight:g}) fits alone, but in this plan {what} finds no "
                f"window on {', '.join(tl.instrument_ids[i] for i in _candidates(step))} after "
                f"the places its previous step can have there, by {when(tl, hi)}"
            )
            return Explanation(subject=req.id, code="displaced", detail=detail)
        windows_text = "; ".join(phrases)
        if held:
            detail = (
                f"{req.id} (weight {req.weight:g}) fits alone, but {what} can run {windows_text}, "
                f"held by {', '.join(held)}{rest}"
            )
        else:
            detail = (
                f"{req.id} (weight {req.weight:g}) fits alone, but {what} can run "
                f"{windows_text}, and the order of its steps, travel and changeovers leave "
                "no place there beside the plan's bookings"
            )
        return Explanation(subject=req.id, code="displaced", detail=detail, related=names[:10])

    def _windows(self, step: StepData, i: int, lo: int, hi: int) -> list[Segment]:
        """Half-open windows [a, b) where the step could run on i on an empty schedule."""
        tl = self.tl
        d = step.duration
        starts = start_ranges(tl.free[i], d, lo, hi)
        if step.operator_required:
            shifts = [
                (max(x, y), min(x1, y1))
                for o in tl.operators_for(i)
                for y, y1 in staffed_starts(tl.operator_free[o], step.attended, d, lo, hi)
                for x, x1 in starts
                if max(x, y) <= min(x1, y1)
            ]
            starts = sorted(set(shifts))
        if step.pin is not None:
            s = step.pin[1]
            starts = [(s, s)] if any(a <= s <= b for a, b in starts) else []
        return _merged([(a, b + d) for a, b in starts])

    def _bounds(self, r: int, k: int, i: int, a: int, b: int, lo: int, hi: int) -> tuple[str, str]:
        """What opens window [a, b) of step k on instrument i, and what closes it."""
        tl, req = self.tl, self.tl.requests[r]
        inst = tl.instance.instruments[i]
        iid = tl.instrument_ids[i]
        left: list[str] = []
        right: list[str] = []
        if a == lo:
            left.append("its release" if k == 0 else f"the end of step {k - 1} plus travel")
        if b == hi:
            right.append(
                "its deadline" if k == len(req.steps) - 1 else "its deadline less the later steps"
            )
        for w in inst.maintenance:
            x, y = minutes(tl.instance, w.start), minutes(tl.instance, w.end)
            if y == a:
                left.append(f"maintenance of {iid} until {clock(tl, y)}")
            if x == b:
                right.append(f"maintenance of {iid} from {clock(tl, x)}")
        if any(x == a for x, _ in tl.free[i]) and not left:
            left.append(f"{iid}'s availability")
        if any(y == b for _, y in tl.free[i]) and not right:
            right.append(f"{iid}'s availability")
        step = req.steps[k]
        if step.operator_required:
            # A shift bounds the starts through the attended parts: a part [pa, pb) of the
            # step fits a shift [x, y) from start x - pa to start y - pb, so the window of
            # whole steps opens at x - pa and closes at y - pb + duration.
            staff = tl.operators_for(i)
            d = step.duration
            starting = [
                o
                for o in staff
                if any(x - pa == a for x, _ in tl.operator_free[o] for pa, _ in step.attended)
            ]
            ending = [
                o
                for o in staff
                if any(y - pb + d == b for _, y in tl.operator_free[o] for _, pb in step.attended)
            ]
            if starting:
                left.append(f"the shift of {self._names(starting)}")
            if ending:
                right.append(f"the end of the shift of {self._names(ending)}")
        if a == 0 and not left:
            left.append("the horizon")
        if b == tl.horizon and not right:
            right.append("the horizon")
        return (" and ".join(left) or "its window"), (" and ".join(right) or "its window")

    def _names(self, operators: list[int]) -> str:
        names = [self.tl.operator_ids[o] for o in operators]
        return ", ".join(names[:2]) + (" …" if len(names) > 2 else "")

    def _holding(self, step: StepData, i: int, a: int, b: int) -> list[Placed]:
        """Bookings that take the window [a, b): on i, or of i's operators when staffed."""
        tl = self.tl
        c = tl.changeover[i]
        found = self.on_instrument.meeting(i, a - c, b + c)
        if step.operator_required:
            for o in tl.operators_for(i):
                found += [
                    p
                    for p in self.on_operator.meeting(o, a, b)
                    if p.instrument != i and self._attends(p, a, b)
                ]
        return found

    def _attends(self, p: Placed, a: int, b: int) -> bool:
        """Whether p's operator is at work (an attended part of p) within [a, b)."""
        parts = self.tl.requests[p.request].steps[p.step].attended
        return any(p.start + x < b and p.start + y > a for x, y in parts)

    def _where(self, p: Placed) -> str:
        tl = self.tl
        who = "" if p.operator is None else f" with {tl.operator_ids[p.operator]}"
        return f"{tl.instrument_ids[p.instrument]}{who} {span(tl, p.start, p.end)}"


def not_reached(tl: Timeline, r: int, chain: list[Placed], placed: list[Placed]) -> Explanation:
    """r fits the plan as it stands: it is out because the search stopped, or because the
    fair-share penalty its minutes add outweighs its weight (contract 6.8)."""
    req = tl.requests[r]
    first = chain[0]
    if tl.instance.fair_share_penalty:
        before = _penalty(tl, placed)
        after = _penalty(tl, [*placed, *chain])
        if after - before >= req.weight - 1e-9:
            return Explanation(
                subject=req.id,
                code="fair_share_cost",
                detail=(
                    f"{req.id} (weight {req.weight:g}) fits the plan's free time (step 0 on "
                    f"{tl.instrument_ids[first.instrument]} at {when(tl, first.start)}), but "
                    f"its minutes would add {after - before:.2f} of fair-share penalty, "
                    "as they widen other institutions' shortfall below their targets"
                ),
            )
    return Explanation(
        subject=req.id,
        code="not_reached",
        detail=(
            f"{req.id} (weight {req.weight:g}) fits the plan's free time as it stands "
            f"(step 0 on {tl.instrument_ids[first.instrument]} at {when(tl, first.start)}), "
            "but the search ended before adding it"
        ),
    )


class _Rows:
    """Bookings per resource in start order, with the latest end so far at each position.

    Bookings of one resource may overlap (a parallel instrument, an operator's unattended
    runs), so their ends need not rise with their starts; the latest end so far does, and
    every booking before the first position where it passes ``a`` ends by ``a``.
    """

    def __init__(self, placed: list[Placed], key: Callable[[Placed], int | None]) -> None:
        self.rows: dict[int, list[Placed]] = defaultdict(list)
        for p in placed:
            k = key(p)
            if k is not None:
                self.rows[k].append(p)
        for row in self.rows.values():
            row.sort(key=lambda p: p.start)
        self.ends = {
            k: list(itertools.accumulate((p.end for p in row), max)) for k, row in self.rows.items()
        }

    def meeting(self, resource: int, a: int, b: int) -> list[Placed]:
        """The bookings of ``resource`` that overlap [a, b)."""
        row = self.rows.get(resource, [])
        out = []
        for p in row[bisect.bisect_right(self.ends.get(resource, []), a) :]:
            if p.start >= b:
                break
            if p.end > a:
                out.append(p)
        return out


def _penalty(tl: Timeline, placed: list[Placed]) -> float:
    """The fair-share penalty of a plan, as the verifier counts it."""
    return -penalised(tl.instance, 0.0, to_payload(tl, placed))


def step_label(step: StepData) -> str:
    """``step 1 (HPC analysis, 600 min)``, or ``step 1 (600 min)`` for an unnamed step."""
    named = "" if step.name == f"step {step.index}" else f"{step.name}, "
    return f"step {step.index} ({named}{step.duration} min)"


def _candidates(step: StepData) -> list[int]:
    return [step.pin[0]] if step.pin is not None else step.instruments


def _merged(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for a, b in sorted(segments):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
