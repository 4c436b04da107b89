"""Re-pack one day of staffed sessions with HiGHS: a large neighbourhood for large weeks.

On a large week the staffed sessions are where the schedule loses most: operators sit
idle while instruments they may serve are free, just not at the same time (measured on the
1,000-request benchmark weeks; see ``benchmarks/RESULTS.md``). Moving
one session to fill such a gap needs others to move with it, across instruments and
operators at once.

This neighbourhood frees every single-step staffed request booked to start on one day and
takes every waiting one that could start that day, keeps everything else fixed, and
places the freed ones again with starts on a grid of ``GRID`` minutes (plus each booked
one's own start, so the current schedule stays a solution). With the starts fixed, the
choice is the clique MIP of :mod:`optimizer.instruments.rigid` (which request, instrument,
operator and start), which HiGHS solves to optimality in about a second a day; it finds
what CP-SAT's neighbourhoods, levelled off, do not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from optimizer.instruments import rigid
from optimizer.instruments.timeline import DAY, Placed, Timeline, start_ranges, sub_timeline

log = logging.getLogger(__name__)

# Minutes between the starts offered to a freed session, and the most seconds a day's MIP
# may take: a coarser grid leaves more time for the search, and 60 ended higher than 30 or
# 15 on the 1,000-request benchmark weeks (see benchmarks/RESULTS.md).
GRID = 60
DAY_SECONDS = 5.0


def _single_staffed(tl: Timeline, r: int) -> bool:
    """A one-step request attended throughout, on instruments that hold one booking at a
    time: the clique MIP of :mod:`rigid` covers exactly these (contract 6.7)."""
    req = tl.requests[r]
    if len(req.steps) != 1:
        return False
    step = req.steps[0]
    return (
        step.operator_required
        and step.pin is None
        and step.fully_attended
        and not any(tl.parallel(i) for i in step.instruments)
    )


def applies(tl: Timeline) -> bool:
    """Whether any request is a single staffed session this neighbourhood can move."""
    return any(_single_staffed(tl, r) for r in range(len(tl.requests)))


def repack_pass(
    tl: Timeline,
    placed: list[Placed],
    served: set[int],
    *,
    weight: list[int],
    time_left: Callable[[], float],
    threads: int,
    seed: int,
) -> tuple[list[Placed], set[int]]:
    """:func:`repack_day` on each day in turn, while time is left."""
    for day in range(max(1, -(-tl.horizon // DAY))):
        if time_left() < 1.0:
            break
        got = repack_day(
            tl, placed, served, day, weight=weight,
            time_limit=min(DAY_SECONDS, time_left() - 0.5), threads=threads, seed=seed,
        )  # fmt: skip
        if got is not None:
            placed, served = got
    return placed, served


def repack_day(
    tl: Timeline,
    placed: list[Placed],
    served: set[int],
    day: int,
    *,
    weight: list[int],
    time_limit: float,
    threads: int,
    seed: int,
) -> tuple[list[Placed], set[int]] | None:
    """The schedule with ``day``'s staffed sessions re-packed, if that serves more weight
    (``weight``: whole, scaled weights per request); else None."""
    a, b = day * DAY, (day + 1) * DAY
    booked = sorted(
        {p.request for p in placed if a <= p.start < b and _single_staffed(tl, p.request)}
    )
    waiting = [
        r
        for r, req in enumerate(tl.requests)
        if r not in served and _single_staffed(tl, r) and req.release < b and req.deadline > a
    ]
    free = booked + waiting
    if not free:
        return None
    freed = set(free)
    fixed = [p for p in placed if p.request not in freed]
    sub = sub_timeline(tl, free, fixed)
    now = {p.request: p for p in placed if p.request in freed}
    columns: list[Placed] = []
    for k, r in enumerate(free):
        step = sub.requests[k].steps[0]
        d = step.duration
        for i in step.instruments:
            starts: set[int] = set()
            window = (max(a, sub.requests[k].release), sub.requests[k].deadline)
            for first, last in start_ranges(sub.free[i], d, *window):
                starts.update(range(-(-first // GRID) * GRID, min(last, b - 1) + 1, GRID))
                starts.update(t for t in (first, last) if t < b)
            if r in now and now[r].instrument == i:
                starts.add(now[r].start)
            columns += [c for t in sorted(starts) for c in rigid.bookings_at(sub, k, 0, i, t)]
    rows = rigid.served_once(sub, columns) + rigid.one_at_a_time(sub, columns)
    rows += rigid.within_quotas(sub, columns)
    _, chosen, _ = rigid.maximise(
        [weight[free[c.request]] for c in columns],
        rows,
        threads=threads,
        seed=seed,
        time_limit=time_limit,
    )
    if chosen is None:
        return None
    new = [dataclasses.replace(columns[c], request=free[columns[c].request]) for c in chosen]
    before = sum(weight[r] for r in booked)
    after = sum(weight[p.request] for p in new)
    if after <= before:
        return None
    log.debug("repack day %d: %s -> %s", day, before, after)
    return fixed + new, (served - freed) | {p.request for p in new}
