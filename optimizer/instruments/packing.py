"""Packing rows of the capacity relaxation: steps are packed whole into operator shifts and
instrument free pieces, which wastes room that minutes alone do not see.

The rows weigh step durations with dual-feasible functions of bin packing
(:func:`_weightings`) and cap each bin at the best it can hold (:func:`_knapsack`).
"""

from __future__ import annotations

import numpy as np

from optimizer.instruments.rows import Item, Row, day_windows, instruments_by_type
from optimizer.instruments.timeline import Segment, Timeline, intersect_ranges, merge


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
    # A step attended only in parts is not packed whole into one shift (contract 6.7).
    staffed = [it for it in items if it.staffed and it.attended == it.duration]

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
        if any(tl.parallel(i) for i in family):
            continue  # bookings side by side are not packed one after another
        add(
            [it for it in items if it.instruments <= family],
            [seg for i in sorted(family) for seg in tl.free[i]],
            min(tl.changeover[i] for i in family),
            t,
        )
    return rows
