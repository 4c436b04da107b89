"""The rows of the capacity relaxation: linear rows every schedule satisfies, in the
requests' served indicators ``x_r``.

Each step is an :class:`Item`: the window its options allow (see
:func:`~optimizer.instruments.timeline.step_options`), its duration and instruments. From
those alone come

* energy rows (:func:`energy_rows`): over windows [a, b) of day boundaries, per instrument
  type, per instrument and per operator pool, the minutes served steps must spend inside
  the window never exceed the capacity there (and their core and gpu minutes a cluster's);
* clique rows (:func:`clique_rows`): steps that must all cover one moment need as many
  instruments;
* quota rows (:func:`quota_rows`): the minutes of an institution's single-type steps never
  exceed its quota.

Packing rows, on the room whole steps waste, are in :mod:`optimizer.instruments.packing`;
the relaxation and its bounds in :mod:`optimizer.instruments.capacity`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from optimizer.instruments.timeline import (
    DAY,
    Segment,
    Timeline,
    intersect_ranges,
    maximal_cliques,
)

# Windows longer than this many days are only kept from the horizon start or to its end,
# and then only whole numbers of such spans long. All windows between day boundaries grow
# with the square of the days: 10,000 rigid requests over 66 days gave 7.6 million
# coefficients and 17 s of building before CP-SAT started; every window from the start or
# to the end, over 200 days, still gave 9.5 million and a 31 s LP. A week (the usual
# horizon) keeps every window.
WINDOW_DAYS = 7


@dataclass(frozen=True)
class Item:
    """A step of a request, as the capacity rows see it: where it can lie, for how long."""

    request: int
    lo: int  # earliest start over its options
    hi: int  # latest end over its options
    duration: int
    instruments: frozenset[int]
    staffed: bool
    attended: int = 0  # minutes an operator works on it (contract 6.7), at most duration
    # Cores and gpus it takes wherever it runs: the least over its instruments (6.7).
    cores: int = 0
    gpus: int = 0


@dataclass(frozen=True)
class Row:
    """Σ need[r] · x_r ≤ cap."""

    need: dict[int, int]
    cap: int
    name: str


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


def _staffed_minutes_on(
    tl: Timeline, family: set[int], free: list[list[Segment]], grid: list[int]
) -> Callable[[int, int], int]:
    """Operator minutes in [a, b) the staffed steps of a family can use, for windows
    between grid points: at each moment, at most as many attended steps run as there are
    pairs of a free instrument of the family and a qualified operator on shift, no two
    sharing either (a maximum bipartite matching; a parallel instrument counts once per
    booking it holds).

    This is tighter than the lesser of the family's manned minutes and its crew's shift
    minutes over the window: where the early and late shifts overlap, more operators are
    on shift than instruments are free, and their spare minutes are no room, while at
    either end of the day fewer operators than instruments are.
    """
    instruments = sorted(family)
    crew = sorted({o for i in instruments for o in tl.operators_for(i)})
    points = sorted(
        {*grid}
        | {x for i in instruments for seg in free[i] for x in seg}
        | {x for o in crew for seg in tl.operator_free[o] for x in seg}
    )
    where = np.array(points)

    def open_during(segments: list[Segment]) -> np.ndarray:
        """Per elementary interval [points[k], points[k+1]), whether it lies in a segment."""
        covered = np.zeros(len(points), dtype=np.int64)
        for x, y in segments:
            covered[np.searchsorted(where, x)] += 1
            covered[np.searchsorted(where, y)] -= 1
        return np.cumsum(covered)[:-1] > 0

    slots = [i for i in instruments for _ in range(tl.capacity[i])]
    instrument_open = {i: open_during(free[i]) for i in instruments}
    on_shift = {o: open_during(tl.operator_free[o]) for o in crew}
    qualified = {(i, o) for i in instruments for o in tl.operators_for(i)}
    matched: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    cumulative = [0]
    for k in range(len(points) - 1):
        rows_here = tuple(s for s, i in enumerate(slots) if instrument_open[i][k])
        crew_here = tuple(o for o in crew if on_shift[o][k])
        key = (rows_here, crew_here)
        if key not in matched:
            matched[key] = _matching_size(
                [[(slots[s], o) in qualified for o in crew_here] for s in rows_here]
            )
        cumulative.append(cumulative[-1] + matched[key] * (points[k + 1] - points[k]))
    before = {t: cumulative[points.index(t)] for t in grid}
    return lambda a, b: before[b] - before[a]


def _matching_size(edges: list[list[bool]]) -> int:
    """The size of a maximum matching of a bipartite graph given as its biadjacency rows."""
    if not edges or not edges[0]:
        return 0
    graph = csr_matrix(np.array(edges, dtype=np.int8))
    match = maximum_bipartite_matching(graph, perm_type="column")
    return int((match >= 0).sum())


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


def energy_rows(
    tl: Timeline, items: list[Item], reach: list[list[Segment]] | None = None
) -> list[Row]:
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
    an operator works one step at a time: the same rows, in attended minutes, hold for the
    family's staffed steps and for all staffed steps against the pairs of free instrument
    and qualified operator there can be at each moment (:func:`_staffed_minutes_on`). Only
    rows that can bind (need above capacity) are kept.

    Cores and gpus (contract 6.7) are held every minute a step runs: a family's steps that
    take them need their least minutes inside [a, b) times their cores (gpus), never more
    than the family's free minutes there times each instrument's cores (gpus). Job slots
    alone let a cluster run as many jobs as it has slots; these rows see that their cores
    run out first.

    ``reach``, when given, is per instrument the time its bookings can reach at all (see
    :func:`~optimizer.instruments.capacity.reachable`): every booking lies inside one piece
    of it, so the free time outside it is no capacity, and the changeover argument holds
    for the pieces of free time within it.
    """
    grid, windows = day_windows(tl.horizon)
    free = (
        tl.free
        if reach is None
        else [intersect_ranges(f, w, closed=False) for f, w in zip(tl.free, reach, strict=True)]
    )
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
        operator_minutes: bool = False,
        per_minute: Callable[[Item], int] | None = None,
    ) -> None:
        lo = np.array([it.lo for it in group])
        hi = np.array([it.hi for it in group])
        # An operator's share of a step is its attended minutes: all lie in [lo, hi), so at
        # most (a - lo)+ + (hi - b)+ of them fall outside [a, b) as well.
        duration = np.array([it.attended if operator_minutes else it.duration for it in group])
        # Cores and gpus are held every minute of the step: its least minutes inside times them.
        times = np.array([1 if per_minute is None else per_minute(it) for it in group])
        request = np.array([it.request for it in group])
        for a, b in windows:
            least = np.maximum(0, duration - np.maximum(0, a - lo) - np.maximum(0, hi - b))
            least *= times
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
            _minutes_on(_slots(tl, family, free), grid),
            min(tl.changeover[i] for i in family),
            functools.partial(_pieces, [free[i] for i in family]),
            name,
        )
    for resource in ("cores", "gpus"):
        held: list[int | None] = getattr(tl, resource)
        for f, family in enumerate(families):
            group = [it for it in members[f] if getattr(it, resource)]
            if not group:
                continue
            name = ",".join(sorted(tl.instrument_ids[i] for i in family))
            cut(
                group,
                _held_on(tl, family, free, grid, held),
                0,
                lambda a, b: 0,
                f"{resource}:{name}",
                per_minute=functools.partial(_held_by, resource),
            )
    for f, family in enumerate(families):
        if not staffed_members[f]:
            continue
        name = ",".join(sorted(tl.instrument_ids[i] for i in family))
        cut(
            staffed_members[f],
            _staffed_minutes_on(tl, family, free, grid),
            0,
            lambda a, b: 0,
            f"staffed:{name}",
            operator_minutes=True,
        )
    if staffed and tl.operator_ids:
        cut(
            staffed,
            _staffed_minutes_on(tl, set().union(*(it.instruments for it in staffed)), free, grid),
            0,
            lambda a, b: 0,
            "operators",
            operator_minutes=True,
        )
    return rows


def _held_by(resource: str, item: Item) -> int:
    """The cores (or gpus) a step holds while it runs."""
    return int(getattr(item, resource))


def _held_on(
    tl: Timeline,
    family: set[int],
    free: list[list[Segment]],
    grid: list[int],
    held: list[int | None],
) -> Callable[[int, int], int]:
    """Core (or gpu) minutes a family offers in [a, b): each instrument's free minutes times
    the cores it has (contract 6.7; none where it counts none)."""
    counted = [(units, _minutes_on([free[i]], grid)) for i in sorted(family) if (units := held[i])]

    def offered(a: int, b: int) -> int:
        return sum(units * minutes(a, b) for units, minutes in counted)

    return offered


def _slots(tl: Timeline, family: set[int], free: list[list[Segment]]) -> list[list[Segment]]:
    """The free time of a family's instruments, a parallel one's counted once per booking it
    holds at a moment (contract 6.7): the minutes its bookings can fill together."""
    return [free[i] for i in sorted(family) for _ in range(tl.capacity[i])]


def clique_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Redundant: steps that must all cover one moment need as many instruments.

    A step that starts in [lo, hi - d] always covers [hi - d, lo + d). Of the steps that may
    only use instruments of a pool F and all cover one moment, at most |F| are served
    (steps of one request never overlap, so each counts its request once). With the
    pool's least changeover c added to each step's end (bookings of different requests on
    one instrument are c apart; a request with two steps in the pool may run them back to
    back, so its steps get no tail), the same holds. These are the model's cliques
    (:func:`~optimizer.instruments.cuts.pooled_cliques`) on served
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
        room = sum(tl.capacity[i] for i in pool)  # bookings the pool holds at once (6.7)
        for clique in maximal_cliques([(a, b) for a, b, _ in segments]):
            if len(clique) > room:
                need = {segments[k][2]: 1 for k in clique}
                a = max(segments[k][0] for k in clique)
                rows.append(
                    Row(
                        need,
                        room,
                        f"clique[{','.join(sorted(tl.instrument_ids[i] for i in pool))}][{a}]",
                    )
                )
    return rows


def quota_rows(tl: Timeline, items: list[Item]) -> list[Row]:
    """Units per request counted against each quota and budget: a step counts the least it
    can, over its eligible instruments (a quota's other types count 0, so only steps of a
    single type count there)."""
    rows: dict[str, dict[int, int]] = {}
    for it in items:
        for limit in tl.limits_for(tl.requests[it.request].institution):
            units = min(limit.units(i, it.duration) for i in it.instruments)
            if units:
                row = rows.setdefault(limit.name, {})
                row[it.request] = row.get(it.request, 0) + units
    caps = {limit.name: limit.cap for limit in tl.limits}
    return [Row(need, caps[name], name) for name, need in rows.items()]
