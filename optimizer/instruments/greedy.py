"""First-come-first-served: how booking systems allocate today, and the CP-SAT warm start.

Pinned steps are reserved first, where their slot is free (a pin says where a step runs if
its request is served; a request whose pinned slot cannot be had is left out). Then
requests are taken in list order (mandatory ones in a first pass, so the baseline does not
lose them to earlier optional requests), and each step goes to the earliest feasible slot
over its eligible instruments: inside a free segment, clear of other bookings plus
changeover (or within a parallel instrument's capacity, cores and gpus), with a qualified
operator free for each attended part, after the previous step plus travel, within quota. A
request whose steps cannot all be placed is rejected and its tentative bookings are
released. There is no backtracking: that is the point of the baseline.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field

from optimizer.instruments.timeline import Placed, StepData, Timeline, next_fit


class Track:
    """Non-overlapping busy intervals on one resource, sorted by start (and so by end)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.owners: list[int] = []

    def add(self, start: int, end: int, owner: int) -> None:
        k = bisect.bisect_left(self.starts, start)
        self.starts.insert(k, start)
        self.ends.insert(k, end)
        self.owners.insert(k, owner)

    def remove(self, start: int, owner: int) -> None:
        k = bisect.bisect_left(self.starts, start)
        while self.owners[k] != owner:
            k += 1
        del self.starts[k], self.ends[k], self.owners[k]

    def push(self, t: int, duration: int, owner: int, gap: int) -> int | None:
        """None if [t, t+duration) is clear, else a later time worth trying.

        Bookings of another owner must keep ``gap`` minutes away on either side.
        """
        k = bisect.bisect_right(self.ends, t - gap)
        latest = None
        while k < len(self.starts) and self.starts[k] < t + duration + gap:
            g = 0 if self.owners[k] == owner else gap
            if self.starts[k] < t + duration + g and t < self.ends[k] + g:
                latest = max(latest or 0, self.ends[k] + g)
            k += 1
        return latest


class Pool:
    """Bookings side by side on one parallel instrument (contract 6.7): at most ``capacity``
    at a moment, their cores and gpus within the totals."""

    def __init__(self, capacity: int, cores: int | None, gpus: int | None) -> None:
        self.capacity = capacity
        self.cores = cores or 0
        self.gpus = gpus or 0
        self.rows: list[tuple[int, int, int, int, int]] = []  # start, end, cores, gpus, owner
        self.longest = 0

    def add(self, start: int, end: int, cores: int, gpus: int, owner: int) -> None:
        bisect.insort(self.rows, (start, end, cores, gpus, owner))
        self.longest = max(self.longest, end - start)

    def remove(self, start: int, owner: int) -> None:
        k = bisect.bisect_left(self.rows, (start,))
        while self.rows[k][4] != owner:
            k += 1
        del self.rows[k]

    def push(self, t: int, duration: int, cores: int, gpus: int) -> int | None:
        """None if a booking fits in [t, t+duration), else a later time worth trying.

        Where the bookings running at some moment m leave no room, every start up to the
        first of their ends still covers a moment that they all cover: that end is next.
        """
        lo = bisect.bisect_left(self.rows, (t - self.longest,))
        hi = bisect.bisect_left(self.rows, (t + duration,))
        near = [row for row in self.rows[lo:hi] if row[1] > t]
        for m in sorted({t} | {row[0] for row in near if row[0] > t}):
            running = [row for row in near if row[0] <= m < row[1]]
            if (
                len(running) + 1 > self.capacity
                or sum(row[2] for row in running) + cores > self.cores
                or sum(row[3] for row in running) + gpus > self.gpus
            ):
                return min(row[1] for row in running)
        return None


@dataclass
class Board:
    """The state of the schedule while greedy fills it."""

    timeline: Timeline
    instruments: list[Track] = field(default_factory=list)
    operators: list[Track] = field(default_factory=list)
    limit_used: dict[str, int] = field(default_factory=dict)  # quota and budget units
    placed: dict[tuple[int, int], Placed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tl = self.timeline
        self.instruments = [Track() for _ in tl.instrument_ids]
        self.pools = {
            i: Pool(tl.capacity[i], tl.cores[i], tl.gpus[i])
            for i in range(len(tl.instrument_ids))
            if tl.parallel(i)
        }
        for i, pool in self.pools.items():
            for s, e, c, g in tl.fixed_load[i]:
                pool.add(s, e, c, g, -1)
        self.operators = [Track() for _ in tl.operator_ids]
        self.free_starts = [[a for a, _ in seg] for seg in tl.free]
        self.op_starts = [[a for a, _ in seg] for seg in tl.operator_free]
        self.ops_for = [tl.operators_for(i) for i in range(len(tl.instrument_ids))]

    def within_limits(self, request: int, instrument: int, minutes: int) -> bool:
        """Whether ``minutes`` more on ``instrument`` keep the institution in its quotas and
        budgets."""
        tl = self.timeline
        return all(
            self.limit_used.get(limit.name, 0) + limit.units(instrument, minutes) <= limit.cap
            for limit in tl.limits_for(tl.requests[request].institution)
        )

    def _count(self, p: Placed, sign: int) -> None:
        tl = self.timeline
        for limit in tl.limits_for(tl.requests[p.request].institution):
            units = limit.units(p.instrument, p.end - p.start)
            self.limit_used[limit.name] = self.limit_used.get(limit.name, 0) + sign * units

    def operator_earliest(
        self, o: int, t: int, parts: tuple[tuple[int, int], ...], owner: int
    ) -> int | None:
        """Earliest start >= t at which operator o is on shift and free for every attended
        part [start + a, start + b)."""
        segments = self.timeline.operator_free[o]
        while True:
            later = None
            for a, b in parts:
                s = next_fit(segments, self.op_starts[o], t + a, b - a)
                if s is None:
                    return None
                if s > t + a:
                    later = s - a
                    break
                busy = self.operators[o].push(t + a, b - a, owner, 0)
                if busy is not None:
                    later = busy - a
                    break
            if later is None:
                return t
            t = later

    def instrument_clash(self, step: StepData, i: int, s: int) -> int | None:
        """None if instrument i can take ``step`` at s, else a later time worth trying."""
        tl = self.timeline
        if i in self.pools:
            return self.pools[i].push(s, step.duration, *tl.demand(step, i))
        return self.instruments[i].push(s, step.duration, step.request, tl.changeover[i])

    def earliest(self, step: StepData, i: int, t: int, hi: int) -> tuple[int, int | None] | None:
        """Earliest start >= t on instrument i (and an operator), ending by hi."""
        tl = self.timeline
        d, owner = step.duration, step.request
        if i in self.pools and not tl.fits(step, i):
            return None  # its cores or gpus exceed the instrument's: no time helps
        while True:
            s = next_fit(tl.free[i], self.free_starts[i], t, d)
            if s is None or s + d > hi:
                return None
            later = self.instrument_clash(step, i, s)
            if later is not None:
                t = later
                continue
            if not step.operator_required:
                return s, None
            best = None
            for o in self.ops_for[i]:
                so = self.operator_earliest(o, s, step.attended, owner)
                if so == s:
                    return s, o
                if so is not None and (best is None or so < best):
                    best = so
            if best is None:
                return None
            t = best

    def layers(self, r: int) -> tuple[list[dict[int, Placed]], int | None]:
        """Request r fitted into this board as it stands, step by step: per step, its
        earliest-ending place on each instrument after any place of the step before (an
        earlier end never hurts the next step, so r fits iff every step has one). Stops at
        the first step with no place and names it (else None)."""
        tl = self.timeline
        req = tl.requests[r]
        layers: list[dict[int, Placed]] = []
        for k, step in enumerate(req.steps):
            prev = layers[-1] if layers else None
            here: dict[int, Placed] = {}
            for i in [step.pin[0]] if step.pin is not None else step.instruments:
                if not self.within_limits(r, i, step.duration):
                    continue
                ready = (
                    req.release
                    if prev is None
                    else min(p.end + tl.travel_before(step, p.instrument, i) for p in prev.values())
                )
                if step.pin is not None:
                    s = step.pin[1]
                    hit = self.earliest(step, i, s, req.deadline) if s >= ready else None
                    hit = hit if hit is not None and hit[0] == s else None
                else:
                    hit = self.earliest(step, i, ready, req.deadline)
                if hit is not None:
                    here[i] = Placed(r, k, i, hit[1], hit[0], hit[0] + step.duration)
            if not here:
                return layers, k
            layers.append(here)
        return layers, None

    def walk_back(self, r: int, layers: list[dict[int, Placed]]) -> list[Placed]:
        """One placement of r through complete :meth:`layers`: the earliest-ending last
        step, then for each step before it the earliest-ending place it can follow (one
        exists by construction)."""
        tl = self.timeline
        req = tl.requests[r]
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

    def _parts(self, p: Placed) -> tuple[tuple[int, int], ...]:
        return self.timeline.requests[p.request].steps[p.step].attended

    def book(self, p: Placed) -> None:
        tl = self.timeline
        if p.instrument in self.pools:
            step = tl.requests[p.request].steps[p.step]
            self.pools[p.instrument].add(p.start, p.end, *tl.demand(step, p.instrument), p.request)
        else:
            self.instruments[p.instrument].add(p.start, p.end, p.request)
        if p.operator is not None:
            for a, b in self._parts(p):
                self.operators[p.operator].add(p.start + a, p.start + b, p.request)
        self._count(p, 1)
        self.placed[(p.request, p.step)] = p

    def unbook(self, p: Placed) -> None:
        if p.instrument in self.pools:
            self.pools[p.instrument].remove(p.start, p.request)
        else:
            self.instruments[p.instrument].remove(p.start, p.request)
        if p.operator is not None:
            for a, _ in self._parts(p):
                self.operators[p.operator].remove(p.start + a, p.request)
        self._count(p, -1)
        del self.placed[(p.request, p.step)]

    def reserve_pin(self, step: StepData, operator: int | None = None) -> bool:
        """Book a pinned step where it is pinned, with the first free qualified operator.

        False, with nothing booked, when the pinned slot is not free time of the instrument,
        is taken, is beyond the quota, or has no operator: the request then goes unserved
        (or, if it must be served, is a failure). ``operator`` is tried first.
        """
        assert step.pin is not None
        i, s = step.pin
        d = step.duration
        tl = self.timeline
        if next_fit(tl.free[i], self.free_starts[i], s, d) != s:
            return False
        if not self.within_limits(step.request, i, d):
            return False
        if i in self.pools and not tl.fits(step, i):
            return False
        if self.instrument_clash(step, i, s) is not None:
            return False
        staff = None
        if step.operator_required:
            first = [operator] if operator in self.ops_for[i] else []
            for o in first + self.ops_for[i]:
                if self.operator_earliest(o, s, step.attended, step.request) == s:
                    staff = o
                    break
            else:
                return False
        self.book(Placed(step.request, step.index, i, staff, s, s + d))
        return True

    def keep_request(self, r: int, slots: list[Placed]) -> bool:
        """Book request r exactly where ``slots`` (one per step) had it, or none of it."""
        tl = self.timeline
        req = tl.requests[r]
        booked: list[Placed] = []
        prev: Placed | None = None
        ok = len(slots) == len(req.steps)
        for step, slot in zip(req.steps, sorted(slots, key=lambda q: q.step), strict=False):
            if not ok:
                break
            ready = (
                req.release
                if prev is None
                else prev.end + tl.travel_before(step, prev.instrument, slot.instrument)
            )
            pinned = self.placed.get((r, step.index))
            if step.pin is not None:  # reserved already, where it is pinned
                ok = pinned is not None and pinned.start >= ready and pinned.end <= req.deadline
                prev = pinned
                continue
            ok = (
                slot.instrument in step.instruments
                and slot.start >= ready
                and slot.end <= req.deadline
                and self.reserve_pin(
                    dataclasses.replace(step, pin=(slot.instrument, slot.start)), slot.operator
                )
            )
            if ok:
                prev = self.placed[(r, step.index)]
                booked.append(prev)
        if not ok:
            for p in booked:
                self.unbook(p)
        return ok

    def place_request(self, r: int) -> bool:
        """Book every unpinned step of request r at its earliest slot, or none of them."""
        tl = self.timeline
        req = tl.requests[r]
        tentative: list[Placed] = []
        prev: Placed | None = None
        ok = True
        for step in req.steps:
            if step.pin is not None:
                p = self.placed.get((r, step.index))
                ready = (
                    req.release
                    if prev is None
                    else prev.end + tl.travel_before(step, prev.instrument, step.pin[0])
                )
                if p is None or p.start < ready or p.end > req.deadline:
                    ok = False
                    break
                prev = p
                continue
            choice: tuple[int, int, int | None] | None = None
            for i in step.instruments:
                if not self.within_limits(r, i, step.duration):
                    continue
                if i in self.pools and not tl.fits(step, i):
                    continue
                t0 = (
                    req.release
                    if prev is None
                    else prev.end + tl.travel_before(step, prev.instrument, i)
                )
                hit = self.earliest(step, i, t0, req.deadline)
                if hit is not None and (choice is None or hit[0] < choice[0]):
                    choice = (hit[0], i, hit[1])
            if choice is None:
                ok = False
                break
            s, i, o = choice
            p = Placed(r, step.index, i, o, s, s + step.duration)
            self.book(p)
            tentative.append(p)
            prev = p
        if not ok:
            for p in tentative:
                self.unbook(p)
        return ok


@dataclass
class GreedyResult:
    bookings: list[Placed]
    served: list[int]
    failed_must: list[int]  # requests that had to be served but could not be placed
    bad_pins: list[tuple[int, int]]


def greedy(
    tl: Timeline, order: list[int] | None = None, keep: list[Placed] | None = None
) -> GreedyResult:
    """First-come-first-served over ``order`` (default: list order, mandatory first).

    ``keep`` (re-planning: the previous plan's bookings) are booked first where each whole
    request still fits exactly as it was, in ``order``; the rest then come first-served.
    """
    board = Board(tl)
    bad_pins = []
    for req in tl.requests:
        for step in req.steps:
            if step.pin is not None and not board.reserve_pin(step, step.pin_operator):
                bad_pins.append((step.request, step.index))
    if order is None:
        n = len(tl.requests)
        order = [r for r in range(n) if tl.requests[r].must]
        order += [r for r in range(n) if not tl.requests[r].must]
    kept: set[int] = set()
    if keep:
        by_request: dict[int, list[Placed]] = {}
        for p in keep:
            by_request.setdefault(p.request, []).append(p)
        for r in order:
            if r in by_request and board.keep_request(r, by_request[r]):
                kept.add(r)
    served, failed = [], []
    for r in order:
        if r in kept or board.place_request(r):
            served.append(r)
        else:
            if tl.requests[r].must:
                failed.append(r)
            for step in tl.requests[r].steps:  # a failed request keeps no pinned slot either
                if (r, step.index) in board.placed:
                    board.unbook(board.placed[(r, step.index)])
    bookings = sorted(board.placed.values(), key=lambda p: (p.start, p.instrument))
    return GreedyResult(bookings, sorted(served), failed, bad_pins)
