"""An instance in integer minutes from the horizon start, as the greedy and the model read it.

Bookable time of an instrument is its availability minus maintenance, clipped to the horizon;
a step fits an instrument when it lies inside one such free segment. Operator windows work
the same way. Everything is indexed once here so the solvers never touch datetimes.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from optimizer.instruments.limits import Limit, build_limits
from optimizer.instruments.schema import InstrumentsInstance, Window, minutes, stamp

Segment = tuple[int, int]

DAY = 1440
"""Minutes in a day: the grid of the capacity rows and of the large-week neighbourhoods."""


def subtract(segments: list[Segment], holes: list[Segment]) -> list[Segment]:
    """``segments`` minus ``holes``; both lists of half-open [a, b), result sorted, merged."""
    out: list[Segment] = []
    holes = sorted(holes)
    for a, b in merge(segments):
        cur = a
        for ha, hb in holes:
            if hb <= cur or ha >= b:
                continue
            if ha > cur:
                out.append((cur, ha))
            cur = max(cur, hb)
            if cur >= b:
                break
        if cur < b:
            out.append((cur, b))
    return out


def merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for a, b in sorted(segments):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def start_ranges(segments: list[Segment], duration: int, lo: int, hi: int) -> list[Segment]:
    """Closed ranges [s, t] of starts whose step lies in one segment and in [lo, hi]."""
    out = []
    for a, b in segments:
        s, t = max(a, lo), min(b, hi) - duration
        if s <= t:
            out.append((s, t))
    return out


def staffed_starts(
    segments: list[Segment], parts: tuple[Segment, ...], duration: int, lo: int, hi: int
) -> list[Segment]:
    """Closed ranges of starts s in [lo, hi - duration] at which every attended part
    [s + a, s + b) lies inside one segment (each part in its own, maybe different one)."""
    out: list[Segment] = [(lo, hi - duration)] if hi - duration >= lo else []
    for a, b in parts:
        here = [(s - a, t - a) for s, t in start_ranges(segments, b - a, lo + a, hi - duration + b)]
        out = intersect_ranges(out, here)
    return out


def intersect_ranges(x: list[Segment], y: list[Segment], *, closed: bool = True) -> list[Segment]:
    """Intersection of two sorted lists of ranges: closed [a, b], or half-open [a, b) segments
    (where ranges that only touch share nothing)."""
    out = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b or (closed and a == b):
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def next_fit(segments: list[Segment], starts: list[int], t: int, duration: int) -> int | None:
    """Earliest s >= t with [s, s + duration) inside one segment (``starts`` = segment starts)."""
    k = max(0, bisect.bisect_right(starts, t) - 1)
    while k < len(segments):
        a, b = segments[k]
        s = max(a, t)
        if s + duration <= b:
            return s
        k += 1
    return None


@dataclass(frozen=True)
class Placed:
    """One booked step, in minutes from the horizon start."""

    request: int
    step: int
    instrument: int
    operator: int | None
    start: int
    end: int


@dataclass
class StepData:
    request: int
    index: int
    duration: int
    instruments: list[int]
    operator_required: bool
    name: str
    pin: tuple[int, int] | None = None  # (instrument, start minute)
    pin_operator: int | None = None  # a frozen session's operator (re-planning)
    # Contract 6.7: the operator's parts as offsets [a, b) from the start (the whole step
    # unless attended_minutes says otherwise; empty without an operator), whether travel is
    # owed before this step, and the cores (None: 1 where counted) and gpus it takes.
    attended: tuple[tuple[int, int], ...] = ()
    moves_sample: bool = True
    cores: int | None = None
    gpus: int = 0

    @property
    def attended_minutes(self) -> int:
        """Minutes the operator works on this step."""
        return sum(b - a for a, b in self.attended)

    @property
    def fully_attended(self) -> bool:
        """Staffed for the whole step, as every staffed step was before contract 6.7."""
        return self.attended == ((0, self.duration),)


@dataclass
class RequestData:
    id: str
    institution: str
    weight: float
    release: int
    deadline: int
    due: int | None
    must: bool  # mandatory, or the objective serves everyone (a pin binds only if served)
    steps: list[StepData] = field(default_factory=list)
    # Re-planning: this request's bookings in the previous plan, (step, instrument, start),
    # and whether one of them is frozen (started before options.now).
    previous: tuple[tuple[int, int, int], ...] = ()
    frozen: bool = False


@dataclass
class Timeline:
    instance: InstrumentsInstance
    horizon: int
    instrument_ids: list[str]
    instrument_type: list[str]
    instrument_site: list[int]
    changeover: list[int]
    free: list[list[Segment]]  # availability minus maintenance, per instrument
    operator_ids: list[str]
    qualified: list[set[int]]  # instruments per operator
    operator_free: list[list[Segment]]
    site_ids: list[str]
    travel: list[list[int]]
    requests: list[RequestData]
    limits: list[Limit]  # quotas and budgets (optimizer/instruments/limits.py)
    # Contract 6.7, per instrument: bookings at once, total cores and gpus (None: not
    # counted), and (on sub-timelines) the bookings already fixed there as (start, end,
    # cores, gpus), which a parallel instrument holds beside the free ones.
    capacity: list[int] = field(default_factory=list)
    cores: list[int | None] = field(default_factory=list)
    gpus: list[int | None] = field(default_factory=list)
    fixed_load: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    _operators_for: list[list[int]] = field(default_factory=list)
    _limits_for: dict[str, list[Limit]] | None = None

    def operators_for(self, instrument: int) -> list[int]:
        """Operators qualified for an instrument (indexed on first use)."""
        if not self._operators_for:
            self._operators_for = [[] for _ in self.instrument_ids]
            for o, q in enumerate(self.qualified):
                for i in q:
                    self._operators_for[i].append(o)
        return self._operators_for[instrument]

    def limits_for(self, institution: str) -> list[Limit]:
        """The quotas and budgets on an institution (indexed on first use)."""
        if self._limits_for is None:
            self._limits_for = {}
            for limit in self.limits:
                self._limits_for.setdefault(limit.institution, []).append(limit)
        return self._limits_for.get(institution, [])

    def within_limits(self, request: int, instrument: int, minutes: int) -> bool:
        """Whether ``minutes`` of ``request`` on ``instrument`` fit every limit on their own."""
        return all(
            limit.units(instrument, minutes) <= limit.cap
            for limit in self.limits_for(self.requests[request].institution)
        )

    def travel_between(self, i: int, j: int) -> int:
        return self.travel[self.instrument_site[i]][self.instrument_site[j]]

    def travel_before(self, step: StepData, i: int, j: int) -> int:
        """Minutes owed between the previous step on ``i`` and ``step`` on ``j``: none when
        the step does not move the sample (contract 6.7)."""
        return self.travel_between(i, j) if step.moves_sample else 0

    def parallel(self, i: int) -> bool:
        """Whether instrument ``i`` runs bookings side by side (capacity, cores or gpus)."""
        return self.capacity[i] > 1 or self.cores[i] is not None or self.gpus[i] is not None

    def demand(self, step: StepData, i: int) -> tuple[int, int]:
        """The (cores, gpus) ``step`` takes on instrument ``i``: 0 where ``i`` counts none."""
        cores = 0 if self.cores[i] is None else (1 if step.cores is None else step.cores)
        gpus = 0 if self.gpus[i] is None else step.gpus
        return cores, gpus

    def fits(self, step: StepData, i: int) -> bool:
        """Whether ``step``'s cores and gpus fit instrument ``i`` at all."""
        cores, gpus = self.demand(step, i)
        return cores <= (self.cores[i] or 0) and gpus <= (self.gpus[i] or 0)


def _segments(instance: InstrumentsInstance, windows: list[Window] | None, h: int) -> list[Segment]:
    if windows is None:
        return [(0, h)]
    clipped = [
        (max(0, minutes(instance, w.start)), min(h, minutes(instance, w.end))) for w in windows
    ]
    return merge(clipped)


def build_timeline(instance: InstrumentsInstance) -> Timeline:
    h = minutes(instance, instance.horizon.end)
    inst_ids = [i.id for i in instance.instruments]
    inst_index = {x: k for k, x in enumerate(inst_ids)}
    site_ids = [s.id for s in instance.sites]
    site_index = {x: k for k, x in enumerate(site_ids)}
    n_sites = len(site_ids)
    travel = [[0] * n_sites for _ in range(n_sites)]
    given: set[tuple[int, int]] = set()
    for t in instance.travel:
        a, b = site_index[t.from_], site_index[t.to]
        travel[a][b] = t.minutes
        given.add((a, b))
    for a, b in list(given):
        if (b, a) not in given:
            travel[b][a] = travel[a][b]
    free = []
    for inst in instance.instruments:
        avail = _segments(instance, inst.availability, h)
        holes = [(minutes(instance, w.start), minutes(instance, w.end)) for w in inst.maintenance]
        free.append(subtract(avail, holes))
    op_ids = [o.id for o in instance.operators]
    qualified = [{inst_index[x] for x in o.instruments} for o in instance.operators]
    op_free = [_segments(instance, o.availability, h) for o in instance.operators]
    requests = []
    for r, req in enumerate(instance.requests):
        release = 0 if req.release is None else max(0, minutes(instance, req.release))
        deadline = h if req.deadline is None else min(h, minutes(instance, req.deadline))
        due = None if req.due is None else minutes(instance, req.due)
        pins = {p.step: (inst_index[p.instrument], minutes(instance, p.start)) for p in req.pinned}
        data = RequestData(
            id=req.id,
            institution=req.institution,
            weight=req.weight,
            release=release,
            deadline=deadline,
            due=due,
            must=req.mandatory or instance.all_mandatory,
        )
        for s, step in enumerate(req.steps):
            data.steps.append(
                StepData(
                    request=r,
                    index=s,
                    duration=step.duration_minutes,
                    instruments=[inst_index[x] for x in instance.eligible(step)],
                    operator_required=step.operator_required,
                    name=step.name or f"step {s}",
                    pin=pins.get(s),
                    attended=tuple(step.attended_parts()),
                    moves_sample=step.moves_sample,
                    cores=step.cores,
                    gpus=step.gpus,
                )
            )
        requests.append(data)
    return Timeline(
        instance=instance,
        horizon=h,
        instrument_ids=inst_ids,
        instrument_type=[i.type for i in instance.instruments],
        instrument_site=[site_index[i.site] for i in instance.instruments],
        changeover=[i.changeover_minutes for i in instance.instruments],
        free=free,
        operator_ids=op_ids,
        qualified=qualified,
        operator_free=op_free,
        site_ids=site_ids,
        travel=travel,
        requests=requests,
        limits=build_limits(instance),
        capacity=[i.capacity for i in instance.instruments],
        cores=[i.cores for i in instance.instruments],
        gpus=[i.gpus for i in instance.instruments],
        fixed_load=[[] for _ in instance.instruments],
    )


def to_payload(tl: Timeline, bookings: list[Placed]) -> dict[str, Any]:
    """The contract's solution payload: bookings by start time, unscheduled request ids."""
    served = {p.request for p in bookings}
    rows = []
    for p in sorted(bookings, key=lambda p: (p.start, tl.instrument_ids[p.instrument])):
        rows.append(
            {
                "request": tl.requests[p.request].id,
                "step": p.step,
                "instrument": tl.instrument_ids[p.instrument],
                "operator": None if p.operator is None else tl.operator_ids[p.operator],
                "start": stamp(tl.instance, p.start),
                "end": stamp(tl.instance, p.end),
            }
        )
    unscheduled = [r.id for k, r in enumerate(tl.requests) if k not in served]
    return {"bookings": rows, "unscheduled": unscheduled}


def request_windows(req: RequestData) -> list[tuple[int, int]]:
    """Per step, the earliest start and latest end its release, deadline and the other steps'
    durations leave it (travel aside)."""
    before, after = 0, sum(s.duration for s in req.steps)
    out = []
    for step in req.steps:
        after -= step.duration
        out.append((req.release + before, req.deadline - after))
        before += step.duration
    return out


def step_options(
    tl: Timeline,
    step: StepData,
    lo: int,
    hi_end: int,
    *,
    exact_pins: bool,
    cache: dict[tuple[Any, ...], list[Segment]],
) -> list[tuple[int, list[Segment]]]:
    """Per eligible instrument, the closed start ranges of ``step`` there (none: left out).

    A start is allowed when the step lies inside a free segment of the instrument and in
    [lo, hi_end], fits the institution's quotas and budgets on its own, and (``operator_required``) some
    qualified operator is on shift for the whole step. A pinned step has only its pinned
    instrument, and with ``exact_pins`` only its pinned start. ``cache`` is shared between
    steps, which often have the same duration and window.
    """
    d = step.duration
    candidates = step.instruments if step.pin is None else [step.pin[0]]
    options = []
    for i in candidates:
        if not tl.within_limits(step.request, i, d):
            continue
        if tl.parallel(i) and not tl.fits(step, i):
            continue
        key = (i, d, lo, hi_end, step.attended)
        if key not in cache:
            starts = start_ranges(tl.free[i], d, lo, hi_end)
            if step.operator_required:
                op_starts = merge(
                    [
                        (a, b + 1)
                        for o in tl.operators_for(i)
                        for a, b in staffed_starts(
                            tl.operator_free[o], step.attended, d, lo, hi_end
                        )
                    ]
                )
                starts = intersect_ranges(starts, [(a, b - 1) for a, b in op_starts])
            cache[key] = starts
        starts = cache[key]
        if step.pin is not None and exact_pins:
            s = step.pin[1]
            starts = [(s, s)] if any(a <= s <= b for a, b in starts) else []
        if starts:
            options.append((i, starts))
    return options


def maximal_cliques(segments: list[tuple[int, int]]) -> list[list[int]]:
    """The maximal cliques of an interval graph of half-open segments, as index lists.

    Sweep: a maximal clique closes at the first end after a run of starts. Ends sort
    before starts at one time, so segments that only touch do not meet.
    """
    events = sorted(
        [(a, 1, k) for k, (a, _) in enumerate(segments)]
        + [(b, 0, k) for k, (_, b) in enumerate(segments)]
    )
    cliques = []
    active: set[int] = set()
    grew = False
    for _, is_start, k in events:
        if is_start:
            active.add(k)
            grew = True
        else:
            if grew:
                cliques.append(sorted(active))
            grew = False
            active.discard(k)
    return cliques


def sub_timeline(tl: Timeline, free: list[int], fixed: list[Placed]) -> Timeline:
    """The timeline left for requests ``free`` once the bookings ``fixed`` are in place."""
    holes: list[list[tuple[int, int]]] = [[] for _ in tl.instrument_ids]
    op_holes: list[list[tuple[int, int]]] = [[] for _ in tl.operator_ids]
    used: dict[str, int] = {}
    fixed_load = [list(load) for load in tl.fixed_load]
    for p in fixed:
        step = tl.requests[p.request].steps[p.step]
        if tl.parallel(p.instrument):  # the others may still run beside it
            fixed_load[p.instrument].append((p.start, p.end, *tl.demand(step, p.instrument)))
        else:
            c = tl.changeover[p.instrument]
            holes[p.instrument].append((p.start - c, p.end + c))
        if p.operator is not None:
            op_holes[p.operator] += [(p.start + a, p.start + b) for a, b in step.attended]
        for limit in tl.limits_for(tl.requests[p.request].institution):
            used[limit.name] = used.get(limit.name, 0) + limit.units(p.instrument, p.end - p.start)
    requests = []
    for k, r in enumerate(free):
        req = tl.requests[r]
        steps = [dataclasses.replace(s, request=k) for s in req.steps]
        requests.append(dataclasses.replace(req, steps=steps))
    return dataclasses.replace(
        tl,
        free=[subtract(f, h) for f, h in zip(tl.free, holes, strict=True)],
        operator_free=[subtract(f, h) for f, h in zip(tl.operator_free, op_holes, strict=True)],
        requests=requests,
        limits=[limit.with_cap(limit.cap - used.get(limit.name, 0)) for limit in tl.limits],
        fixed_load=fixed_load,
        _operators_for=[],
        _limits_for=None,
    )
