"""Upper bounds on weighted requests served, from capacity rows alone (no CP-SAT model).

Every step may only start where :func:`~optimizer.instruments.timeline.step_options` allows
(inside a free segment of an eligible instrument, within its request's release and deadline,
with a qualified operator on shift if it needs one). From those windows alone come linear
rows that every schedule satisfies, in the requests' served indicators ``x_r``:

* energy rows (:func:`energy_rows`): over windows [a, b) of day boundaries, per instrument
  type, per instrument and per operator pool, the minutes served steps must spend inside
  the window never exceed the capacity there;
* packing rows (:func:`packing_rows`): steps are packed whole into operator shifts and
  instrument free pieces, which wastes room that minutes alone do not see;
* quota rows: the minutes of an institution's single-type steps never exceed its quota.

The LP over these rows (:func:`lp_bound`) is cheap even at 3,000 requests, so a bound is
known before any CP-SAT model exists. The same rows with ``x`` binary (:func:`mip_bound`)
are still a relaxation of the schedule, and HiGHS's dual bound on that small MIP is never
weaker than the LP's; on the benchmark weeks it only confirms the LP's value rounded down.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from optimizer.core.envelope import Status
from optimizer.instruments.timeline import (
    DAY,
    Segment,
    Timeline,
    intersect_ranges,
    maximal_cliques,
    merge,
    request_windows,
    step_options,
)

log = logging.getLogger(__name__)

# Windows longer than this many days are only kept from the horizon start or to its end,
# and then only whole numbers of such spans long. All windows between day boundaries grow
# with the square of the days: 10,000 rigid requests over 66 days gave 7.6 million
# coefficients and 17 s of building before CP-SAT started; every window from the start or
# to the end, over 200 days, still gave 9.5 million and a 31 s LP. A week (the usual
# horizon) keeps every window.
WINDOW_DAYS = 7

# options[r][k]: for step k of request r, (instrument, closed start ranges) per option.
Options = list[list[list[tuple[int, list[Segment]]]]]


@dataclass(frozen=True)
class Item:
    """A step of a request, as the capacity rows see it: where it can lie, for how long."""

    request: int
    lo: int  # earliest start over its options
    hi: int  # latest end over its options
    duration: int
    instruments: frozenset[int]
    staffed: bool


@dataclass(frozen=True)
class Row:
    """Σ need[r] · x_r ≤ cap."""

    need: dict[int, int]
    cap: int
    name: str


@dataclass
class Relaxation:
    """The rows every schedule satisfies, and which requests can be served at all."""

    possible: list[bool]
    energy: list[Row]
    quota: list[Row]
    packing: list[Row]
    clique: list[Row]

    @property
    def rows(self) -> list[Row]:
        return [*self.energy, *self.quota, *self.packing, *self.clique]


@dataclass(frozen=True)
class LpSolution:
    """The LP optimum over a relaxation's rows: a bound, and how much of each request."""

    bound: float
    served: list[float]


def all_options(tl: Timeline) -> Options:
    """Where every step may start on each eligible instrument (pins exact), model-free."""
    cache: dict[tuple[int, int, int, int, bool], list[Segment]] = {}
    out: Options = []
    for req in tl.requests:
        windows = request_windows(req)
        out.append(
            [
                step_options(tl, step, lo, hi_end, exact_pins=True, cache=cache)
                for step, (lo, hi_end) in zip(req.steps, windows, strict=True)
            ]
        )
    return out


def flexible_option_count(options: Options) -> int:
    """(step, instrument) options that leave the step more than one start.

    A rigid option (one start) is an interval CP-SAT never has to place: weighted interval
    scheduling with thousands of them is proven in seconds by the clique rows of the model.
    """
    return sum(
        1
        for steps in options
        for opts in steps
        for _, starts in opts
        if len(starts) > 1 or starts[0][0] != starts[0][1]
    )


def relaxation(tl: Timeline, options: Options) -> Relaxation:
    """The energy and quota rows of these options."""
    possible = [bool(steps) and all(steps) for steps in options]
    items = []
    for r, steps in enumerate(options):
        if not possible[r]:
            continue
        for step, opts in zip(tl.requests[r].steps, steps, strict=True):
            lo = min(st[0][0] for _, st in opts)
            hi = max(st[-1][1] for _, st in opts) + step.duration
            items.append(
                Item(
                    r, lo, hi, step.duration, frozenset(i for i, _ in opts), step.operator_required
                )
            )
    return Relaxation(
        possible,
        energy_rows(tl, items),
        quota_rows(tl, items),
        packing_rows(tl, items),
        clique_rows(tl, items),
    )


def _overlap(segments: list[Segment], a: int, b: int) -> int:
    return sum(max(0, min(y, b) - max(x, a)) for x, y in segments)


def _minutes(resources: list[list[Segment]], a: int, b: int) -> int:
    """Free minutes of these resources inside [a, b)."""
    return sum(_overlap(segments, a, b) for segments in resources)


def _pieces(resources: list[list[Segment]], a: int, b: int) -> int:
    """Free pieces of these resources meeting [a, b)."""
    return sum(1 for segments in resources for x, y in segments if min(y, b) > max(x, a))


def _minutes_on(resources: list[list[Segment]], grid: list[int]) -> Callable[[int, int], int]:
    """:func:`_minutes` for windows [a, b) between grid points, by prefix sums.

    The minutes inside [a, b) are those before b less those before a, so each grid point
    is measured once instead of each of the grid's many windows (on a 28-day horizon this
    took 3 of the relaxation's 8 s).
    """
    before = {t: _minutes(resources, 0, t) for t in grid}
    return lambda a, b: before[b] - before[a]


def _manned_minutes(
    manned: Callable[[int, int], int], crew: Callable[[int, int], int], a: int, b: int
) -> int:
    """Minutes in [a, b) staffed steps can use: no more than the instruments' manned time,
    and no more than the crew's shifts."""
    return min(manned(a, b), crew(a, b))


def instruments_by_type(tl: Timeline) -> dict[str, set[int]]:
    """Each instrument type, and the instruments of that type."""
    by_type: dict[str, set[int]] = {}
    for i, t in enumerate(tl.instrument_type):
        by_type.setdefault(t, set()).add(i)
    return by_type


def day_windows(horizon: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Day boundaries of the horizon, and the windows [a, b) between them the rows use.

    Every window up to ``WINDOW_DAYS`` long, and the windows from the horizon start or to
    its end that span whole multiples of it (those carry releases and deadlines over the
    whole horizon). Any set of windows gives valid rows; leaving some out only weakens
    the bound.
    """
    grid = sorted({*range(0, horizon, DAY), horizon})
    span = WINDOW_DAYS * DAY
    windows = [
        (a, b)
        for x, a in enumerate(grid)
        for b in grid[x + 1 :]
        if b - a <= span
        or ((a == 0 or b == horizon) and (b - a) % span == 0)
        or (a == 0 and b == horizon)
    ]
    return grid, windows


def energy_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Redundant: minutes a window must hold never exceed the capacity inside it.

    Energetic reasoning over a grid of day boundaries. For each instrument type (and each
    single instrument), every step that can only run there, started anywhere in its
    allowed range [lo, hi - d], lies in [lo, hi), so at most (a - lo)+ of it falls before a
    and at most (hi - b)+ after b: it occupies at least ``d - (a - lo)+ - (hi - b)+``
    minutes of [a, b). Served steps together never need more than the free minutes of
    those instruments in [a, b).

    Changeovers: in a free piece, take the bookings meeting [a, b) in time order, and for
    a request with a step wholly inside [a, b) the run of its own bookings that holds its
    last such step. The next booking after that run, if it starts before b, is another
    request's, so ``changeover`` idle minutes lie inside [a, b) right after the run; runs
    of different requests are different, so these gaps are too. Only the last run of each
    piece may have no such gap. So each request with a step wholly inside adds the
    family's least changeover once to its need, and each free piece meeting [a, b) adds it
    once to the capacity. (Steps of one request owe each other no changeover.)

    Staffed steps need the instrument free and a qualified operator on shift at once, and
    an operator works one step at a time: the same rows hold against the manned free
    minutes of the family, against the shifts of its qualified crew, and for all staffed
    steps against all shifts. Only rows that can bind (need above capacity) are kept.
    """
    grid, windows = day_windows(tl.horizon)
    by_type = instruments_by_type(tl)
    families = list(by_type.values()) + [
        {i} for i in range(len(tl.instrument_ids)) if len(by_type[tl.instrument_type[i]]) > 1
    ]
    members: list[list[Item]] = [[] for _ in families]
    staffed_members: list[list[Item]] = [[] for _ in families]
    staffed: list[Item] = []
    for item in items:
        for f, family in enumerate(families):
            if item.instruments <= family:
                members[f].append(item)
                if item.staffed:
                    staffed_members[f].append(item)
        if item.staffed:
            staffed.append(item)

    rows: list[Row] = []

    def cut(
        group: list[Item],
        capacity: Callable[[int, int], int],
        tail: int,
        count: Callable[[int, int], int],
        name: str,
    ) -> None:
        lo = np.array([it.lo for it in group])
        hi = np.array([it.hi for it in group])
        duration = np.array([it.duration for it in group])
        request = np.array([it.request for it in group])
        for a, b in windows:
            least = duration - np.maximum(0, a - lo) - np.maximum(0, hi - b)
            hit = least > 0
            # one changeover per request with a step wholly inside, see above
            tailed = np.unique(request[(lo >= a) & (hi <= b)]) if tail else request[:0]
            cap = capacity(a, b) + (tail * count(a, b) if tail else 0)
            if int(least[hit].sum()) + tail * len(tailed) <= cap:
                continue
            need: dict[int, int] = {}
            for r, minutes in zip(request[hit].tolist(), least[hit].tolist(), strict=True):
                need[r] = need.get(r, 0) + minutes
            for r in tailed.tolist():
                need[r] += tail
            rows.append(Row(need, cap, f"energy[{name}][{a}:{b}]"))

    for f, family in enumerate(families):
        if not members[f]:
            continue
        name = ",".join(sorted(tl.instrument_ids[i] for i in family))
        cut(
            members[f],
            _minutes_on([tl.free[i] for i in family], grid),
            min(tl.changeover[i] for i in family),
            functools.partial(_pieces, [tl.free[i] for i in family]),
            name,
        )
    manned = [
        intersect_ranges(
            tl.free[i],
            merge([w for o in tl.operators_for(i) for w in tl.operator_free[o]]),
            closed=False,
        )
        for i in range(len(tl.instrument_ids))
    ]
    for f, family in enumerate(families):
        if not staffed_members[f]:
            continue
        crew = {o for i in family for o in tl.operators_for(i)}
        name = ",".join(sorted(tl.instrument_ids[i] for i in family))
        cut(
            staffed_members[f],
            functools.partial(
                _manned_minutes,
                _minutes_on([manned[i] for i in family], grid),
                _minutes_on([tl.operator_free[o] for o in crew], grid),
            ),
            0,
            lambda a, b: 0,
            f"staffed:{name}",
        )
    if staffed and tl.operator_ids:
        cut(
            staffed,
            _minutes_on(tl.operator_free, grid),
            0,
            lambda a, b: 0,
            "operators",
        )
    return rows


def clique_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Redundant: steps that must all cover one moment need as many instruments.

    A step that starts in [lo, hi - d] always covers [hi - d, lo + d). Of the steps that may
    only use instruments of a pool F and all cover one moment, at most |F| are served
    (steps of one request never overlap, so each counts its request once). With the
    pool's least changeover c added to each step's end (bookings of different requests on
    one instrument are c apart; a request with two steps in the pool may run them back to
    back, so its steps get no tail), the same holds. These are the model's cliques
    (:meth:`~optimizer.instruments.model.ScheduleModel._pooled_cliques`) on served
    indicators: on rigid requests the LP over them is an interval matrix, integral, and
    its optimum a schedule (one instrument per moment in start order).
    """
    by_type = instruments_by_type(tl)
    pools = {it.instruments for it in items} | {frozenset(f) for f in by_type.values()}
    rows: list[Row] = []
    for pool in sorted(pools, key=sorted):
        group = [it for it in items if it.instruments <= pool]
        per_request: dict[int, int] = {}
        for it in group:
            per_request[it.request] = per_request.get(it.request, 0) + 1
        tail = min(tl.changeover[i] for i in pool)
        segments = []
        for it in group:
            end = it.lo + it.duration + (tail if per_request[it.request] == 1 else 0)
            if it.hi - it.duration < end:
                segments.append((it.hi - it.duration, end, it.request))
        for clique in maximal_cliques([(a, b) for a, b, _ in segments]):
            if len(clique) > len(pool):
                need = {segments[k][2]: 1 for k in clique}
                a = max(segments[k][0] for k in clique)
                rows.append(
                    Row(
                        need,
                        len(pool),
                        f"clique[{','.join(sorted(tl.instrument_ids[i] for i in pool))}][{a}]",
                    )
                )
    return rows


def quota_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Minutes per request counted against each quota, for steps of a single type."""
    rows: dict[tuple[str, str], dict[int, int]] = {}
    for it in items:
        types = {tl.instrument_type[i] for i in it.instruments}
        if len(types) != 1:
            continue
        key = (tl.requests[it.request].institution, types.pop())
        if key in tl.quotas:
            row = rows.setdefault(key, {})
            row[it.request] = row.get(it.request, 0) + it.duration
    return [Row(need, tl.quotas[key], f"quota[{key[0]}][{key[1]}]") for key, need in rows.items()]


def _lower(tl: Timeline, rel: Relaxation, r: int) -> float:
    return 1.0 if tl.requests[r].must and rel.possible[r] else 0.0


def lp_bound(tl: Timeline, rel: Relaxation) -> float | None:
    """Upper bound on Σ weight·served: the LP over the rows (GLOP), or None if not solved.

    Every schedule satisfies these rows, so the LP optimum bounds the true optimum.
    """
    solution = lp_solution(tl, rel)
    return None if solution is None else solution.bound


def lp_solution(
    tl: Timeline, rel: Relaxation, time_limit: float | None = None
) -> LpSolution | None:
    """The LP over the rows (GLOP): its optimum as a bound, and each request's share.

    None if GLOP does not solve it (within ``time_limit`` seconds, when given).
    """
    from ortools.linear_solver import pywraplp

    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    if time_limit is not None:
        lp.SetTimeLimit(max(1, int(1000 * time_limit)))
    x = [
        lp.NumVar(_lower(tl, rel, r), 1.0 if rel.possible[r] else 0.0, f"served[{req.id}]")
        for r, req in enumerate(tl.requests)
    ]
    rows = rel.rows
    # Coefficient by coefficient: building expressions with operators took 9 s for the
    # 640,000 terms of 2,000 rigid requests; this takes well under one.
    constraints = []
    for row in rows:
        constraint = lp.Constraint(-lp.infinity(), float(row.cap))
        for r, c in row.need.items():
            constraint.SetCoefficient(x[r], float(c))
        constraints.append(constraint)
    objective = lp.Objective()
    for r, req in enumerate(tl.requests):
        objective.SetCoefficient(x[r], req.weight)
    objective.SetMaximization()
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    duals = [c.dual_value() for c in constraints]
    bound = _dual_bound(tl, rel, rows, duals)
    return LpSolution(bound, [v.solution_value() for v in x])


# Duals are rounded to this grid, so that the bound below is integer arithmetic.
DUAL_GRID = 2**40


def _dual_bound(tl: Timeline, rel: Relaxation, rows: list[Row], duals: list[float]) -> float:
    """A bound on the LP, and so on every schedule, that floating point cannot spoil.

    Weak duality: for any y ≥ 0, Σ w·x ≤ Σ cap·y + Σ_r max(c_r·upper_r, c_r·lower_r) with
    c = w - Aᵀy, for every x within its bounds that satisfies the rows. The solver's duals,
    rounded to a grid and clipped at 0, are such a y; the sum is then computed exactly
    (integers and fractions), so the bound holds whatever the solver's tolerances were,
    and is as tight as its duals are good (within 1e-9 on the benchmark weeks).
    """
    y = [max(0, round(v * DUAL_GRID)) for v in duals]
    priced = [0] * len(tl.requests)
    total = 0
    for row, yk in zip(rows, y, strict=True):
        if yk:
            total += row.cap * yk
            for r, c in row.need.items():
                priced[r] += c * yk
    bound = Fraction(total, DUAL_GRID)
    for r, req in enumerate(tl.requests):
        reduced = Fraction(req.weight) - Fraction(priced[r], DUAL_GRID)
        upper = 1 if rel.possible[r] else 0
        bound += reduced * (upper if reduced > 0 else int(_lower(tl, rel, r)))
    value = float(bound)
    return value if value >= bound else math.nextafter(value, math.inf)


def mip_bound(
    tl: Timeline, rel: Relaxation, *, time_limit: float, threads: int, seed: int
) -> float | None:
    """Upper bound on Σ weight·served: HiGHS's dual bound on the rows with x binary.

    A schedule's served vector is binary and satisfies every row, so the best binary
    vector over the rows is at least the optimum, and HiGHS's dual bound (for a maximum)
    is at least that, whether or not the MIP finished. None when HiGHS proves nothing.
    """
    from optimizer.core import highs as highs_adapter

    n = len(tl.requests)
    rows = rel.rows
    if n == 0 or time_limit <= 0.05:
        return None
    # Only the dual bound is wanted: stop once it is within a hair of the best found.
    h = highs_adapter.new_highs(threads=threads, seed=seed, mip_rel_gap=1e-4)
    highs_adapter.maximise_binary(
        h,
        [req.weight for req in tl.requests],
        ([_lower(tl, rel, r) for r in range(n)], [1.0 if p else 0.0 for p in rel.possible]),
        [
            ([r for r, _ in need], [float(c) for _, c in need], -math.inf, row.cap)
            for row in rows
            for need in [sorted(row.need.items())]
        ],
    )
    status = highs_adapter.run(h, time_limit)
    if status == Status.INFEASIBLE:
        return None  # cannot happen when a schedule exists; claim nothing if it does
    raw = highs_adapter.mip_dual_bound(h)
    if raw is None:
        return None
    # HiGHS works to tolerances of about 1e-6 per row: widen the bound by more than that.
    return float(raw) + 1e-5 * max(1.0, abs(float(raw)))


def _knapsack(sizes: list[int], values: list[int], capacity: int) -> int:
    """Most total value of a multiset of these sizes with total size at most ``capacity``."""
    best = [0] * (capacity + 1)
    for c in range(1, capacity + 1):
        best[c] = best[c - 1]
        for s, v in zip(sizes, values, strict=True):
            if s <= c and best[c - s] + v > best[c]:
                best[c] = best[c - s] + v
    return best[capacity]


def _weightings(sizes: list[int], length: int) -> list[tuple[str, dict[int, int]]]:
    """Integer weightings g of item sizes that price wasted room in bins of about ``length``.

    Dual-feasible functions of bin packing (Fekete and Schepers' f_0 with thresholds t: an
    item above length - t counts as a whole bin, one below t as nothing) and the rounding
    family u^(k) scaled by k. Any weighting is valid with the exact capacity of
    :func:`_knapsack`; these make some of the rows it gives tighter than plain minutes.
    """
    out: list[tuple[str, dict[int, int]]] = []
    thresholds = sorted({s for s in sizes if s <= length // 2} | {length // 2})
    if len(thresholds) > 6:
        thresholds = [thresholds[round(k * (len(thresholds) - 1) / 5)] for k in range(6)]
    for t in thresholds:
        g = {s: length if s > length - t else (s if s >= t else 0) for s in sizes}
        out.append((f"f0-{t}", g))
    for k in (1, 2, 3):
        g = {
            s: k * s if ((k + 1) * s) % length == 0 else ((k + 1) * s // length) * length
            for s in sizes
        }
        out.append((f"u{k}", g))
    return out


def packing_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Redundant: steps are packed whole into shifts and free pieces, which wastes room.

    A staffed step lies wholly inside one piece of its operator's free time, and inside one
    free piece of its instrument; an operator works one step at a time. So for a pool of
    operators, the steps that must lie inside a window [a, b) (their whole range [lo, hi)
    is inside) are packed into the bins "one operator's free time, within the free time of
    the instruments it may serve, within [a, b)" (each a segment), without overlap. For
    any weighting g of step durations, the steps in one bin of length C weigh at most the
    best multiset of durations that fits in C (:func:`_knapsack`), so Σ g(d)·x ≤ Σ over
    bins of that best. Instruments likewise, with the family's least changeover c added to
    every step and to every bin: bookings of different requests in one free piece are c
    apart, so d + c summed over them is at most the piece's length + c. Requests with two
    steps in the family are left out there (their steps may run back to back); leaving out
    bookings only frees room, so the row still holds.

    Rows are kept only where they can bind.
    """
    _, windows = day_windows(tl.horizon)
    rows: list[Row] = []

    def add(group: list[Item], bins: list[Segment], extra: int, name: str) -> None:
        if extra:  # two steps of one request owe each other no changeover: leave them out
            count: dict[int, int] = {}
            for it in group:
                count[it.request] = count.get(it.request, 0) + 1
            group = [it for it in group if count[it.request] == 1]
        if not group or not bins:
            return
        sizes = sorted({it.duration + extra for it in group})
        length = max(y - x for x, y in bins) + extra
        if length > 3 * sizes[-1]:
            return  # bins many steps long waste little room: the energy rows hold as much
        lo = np.array([it.lo for it in group])
        hi = np.array([it.hi for it in group])
        request = np.array([it.request for it in group])
        size = [it.duration + extra for it in group]
        starts = np.array([x for x, _ in bins])
        ends = np.array([y for _, y in bins])
        cache: dict[tuple[str, int], int] = {}
        for label, g in _weightings(sizes, length):
            values = [g[s] for s in sizes]
            if not any(values):
                continue
            weight = np.array([g[s] for s in size])
            for a, b in windows:
                inside = (lo >= a) & (hi <= b)
                if not inside.any():
                    continue
                room = np.minimum(ends, b) - np.maximum(starts, a)
                cap = 0
                for c, times in zip(*np.unique(room[room > 0], return_counts=True), strict=True):
                    key = (label, int(c) + extra)
                    if key not in cache:
                        cache[key] = _knapsack(sizes, values, key[1])
                    cap += cache[key] * int(times)
                if int(weight[inside].sum()) <= cap:
                    continue
                need: dict[int, int] = {}
                for r, v in zip(request[inside].tolist(), weight[inside].tolist(), strict=True):
                    need[r] = need.get(r, 0) + v
                rows.append(Row(need, cap, f"pack[{name}][{label}][{a}:{b}]"))

    by_type = instruments_by_type(tl)
    staffed = [it for it in items if it.staffed]

    def shifts(family: set[int]) -> list[Segment]:
        out: list[Segment] = []
        for o, segments in enumerate(tl.operator_free):
            usable = sorted(tl.qualified[o] & family)
            if usable:
                out += intersect_ranges(
                    segments, merge([w for i in usable for w in tl.free[i]]), closed=False
                )
        return out

    everything = set(range(len(tl.instrument_ids)))
    add(staffed, shifts(everything), 0, "operators")
    for t, family in sorted(by_type.items()):
        add([it for it in staffed if it.instruments <= family], shifts(family), 0, f"crew:{t}")
        add(
            [it for it in items if it.instruments <= family],
            [seg for i in sorted(family) for seg in tl.free[i]],
            min(tl.changeover[i] for i in family),
            t,
        )
    return rows
