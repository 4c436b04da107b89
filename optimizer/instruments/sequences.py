"""Sequence rows of the capacity relaxation: on one instrument, sessions follow each other,
and each may start only where its step's options allow.

Minutes alone (the energy rows) count every free minute as room. But a step attended
only at its start begins only while a qualified operator is on shift, and a staffed step
only inside one operator's shift: after a short session ends in the evening, the
instrument waits for the next shift, and the minutes between are no room at all. A
dynamic programme over the order of sessions on each instrument (:func:`most_in_sequence`)
bounds what the instrument can hold, for several weightings of the sessions at once; a
family of instruments holds at most the sum over its members.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.instruments.rows import Row, instruments_by_type
from optimizer.instruments.timeline import Segment, Timeline, start_ranges

# Weightings g(d) = d + extra for these extras, and g(d) = 1 (None: sessions counted alone).
# Minutes alone favour long sessions, counts alone short ones; the LP combines the rows
# in between, so a spread from one end to the other serves it.
EXTRA_MINUTES: tuple[int | None, ...] = (0, 60, 240, 720, 1440, None)

# Beside those, every weighting of a family's durations by whole numbers from 0 up to a
# level is a valid row; they wait in a pool, and the LP takes the ones it breaks. The level
# is the highest that keeps the pool within POOL_SIZE weightings (5 for four durations):
# on the 1,000-request facility weeks higher levels moved the bound by at most 2 in 1,800
# and took twice the time (see benchmarks/RESULTS.md).
POOL_SIZE = 1300

# The programme gives up on an instrument (and its family gets no row) past this many
# states: a week of minutes has at most 10,080, a long horizon of short sessions could
# take far more time than the bound is worth.
MOST_STATES = 20_000


def most_in_sequence(
    starts: dict[int, list[Segment]],
    changeover: int,
    weightings: Sequence[dict[int, int]],
    most_states: int = MOST_STATES,
) -> list[int] | None:
    """For each weighting g, the most Σ g(d) over sessions run one after another on one
    instrument, a session of duration d starting inside one of the closed ranges
    ``starts[d]``, the next starting no earlier than the previous end plus ``changeover``.

    Any such sequence can start each session at the earliest start its ranges allow
    after the previous session (moving a session earlier never delays the next), so
    only those times are states: from the free time t, a session of duration d starts at
    the first start s ≥ t in ``starts[d]`` and frees the instrument at s + d +
    changeover. None when there are more than ``most_states`` states.
    """
    durations = sorted(d for d, ranges in starts.items() if ranges)
    if not durations:
        return [0] * len(weightings)
    firsts = {d: [a for a, _ in starts[d]] for d in durations}

    def earliest(d: int, t: int) -> int | None:
        ranges = starts[d]
        k = bisect.bisect_right(firsts[d], t) - 1
        if k >= 0 and ranges[k][1] >= t:
            return t
        return ranges[k + 1][0] if k + 1 < len(ranges) else None

    # Every state (a time the instrument is free), and where each session from it leads.
    origin = min(firsts[d][0] for d in durations)
    moves: dict[int, list[tuple[int, int]]] = {}
    waiting = [origin]
    while waiting:
        t = waiting.pop()
        if t in moves:
            continue
        if len(moves) >= most_states:
            return None
        here = []
        for k, d in enumerate(durations):
            s = earliest(d, t)
            if s is not None:
                here.append((k, s + d + changeover))
                waiting.append(s + d + changeover)
        moves[t] = here
    # One column per weighting, so that all are maximised in one pass over the states.
    gain = np.array([[g.get(d, 0) for g in weightings] for d in durations], dtype=np.int64)
    best: dict[int, np.ndarray] = {}
    for t in sorted(moves, reverse=True):  # every move goes to a later state
        value = np.zeros(len(weightings), dtype=np.int64)
        for k, after in moves[t]:
            np.maximum(value, gain[k] + best[after], out=value)
        best[t] = value
    return [int(v) for v in best[origin]]


def _weightings(durations: list[int]) -> list[dict[int, int]]:
    return [{d: 1 if extra is None else d + extra for d in durations} for extra in EXTRA_MINUTES]


def _pooled_weightings(durations: list[int]) -> list[dict[int, int]]:
    """Every weighting of the durations by whole numbers from 0 up to the highest level that
    keeps them within ``POOL_SIZE`` (not all 0); none for a single duration (its count
    row says as much) or when even 0 and 1 make too many."""
    n = len(durations)
    levels = 1
    while (levels + 2) ** n <= POOL_SIZE:
        levels += 1
    if n < 2 or 2**n > POOL_SIZE:
        return []
    return [
        dict(zip(durations, weights, strict=True))
        for weights in itertools.product(range(levels + 1), repeat=n)
        if any(weights)
    ]


@dataclass
class FamilyPool:
    """Valid rows of one family not yet in the LP: Σ_r g(d_r)·x_r ≤ cap for each weighting g
    (a row of ``weight``), d_r the duration of request r's step in the family."""

    name: str
    requests: np.ndarray  # one entry per step of the family, its request
    duration: np.ndarray  # and the index of its duration in the weightings' columns
    weight: np.ndarray  # weightings × durations
    cap: np.ndarray  # per weighting

    def row(self, k: int) -> Row:
        need: dict[int, int] = {}
        for r, g in zip(
            self.requests.tolist(), self.weight[k][self.duration].tolist(), strict=True
        ):
            if g:
                need[r] = need.get(r, 0) + g
        return Row(need, int(self.cap[k]), f"sequence[{self.name}][pool {k}]")

    def violated(self, served: Sequence[float], most: int) -> list[Row]:
        """The rows of the pool ``served`` (a share per request) breaks the most, up to
        ``most`` of them."""
        share = np.asarray(served)[self.requests]
        per_duration = np.bincount(self.duration, weights=share, minlength=self.weight.shape[1])
        excess = self.weight @ per_duration - self.cap
        worst = np.argsort(-excess)[:most]
        return [self.row(int(k)) for k in worst if excess[k] > 1e-6 * max(1, self.cap[k])]


@dataclass
class Sequences:
    """The sequence rows kept from the start, and the pools of rows to separate."""

    rows: list[Row]
    pools: list[FamilyPool]


def sequence_rows(tl: Timeline, options: list[list[list[tuple[int, list[Segment]]]]]) -> Sequences:
    """Redundant: the sessions of a family of instruments, weighted, are at most what its
    members can hold in sequence.

    For each instrument type, and each instrument of a type with several, take the steps
    whose every option lies in that family. On each member i, every such step served there
    starts inside its options' ranges on i, so inside the union of those ranges over the
    steps of its duration, and the bookings on i follow each other with the changeover
    between them: :func:`most_in_sequence` over those unions bounds Σ g(d) of what i
    holds, for any weighting g, and the family holds the sum over its members. Requests
    with two steps in the family are left out (their steps owe each other no changeover);
    leaving bookings out only frees room, so the rows still hold. Parallel instruments
    (contract 6.7) hold bookings side by side, not in sequence, and get no rows. Nor does a
    family whose steps may start wherever its free time holds them: the energy and packing
    rows already see those free pieces, and the programme would cost the most there
    (round-the-clock instruments, short steps) for the least.

    The rows of ``EXTRA_MINUTES``' weightings are kept where they can bind; those of the
    pooled weightings (:func:`_pooled_weightings`) go to a pool, from which the LP takes
    the ones its solution breaks (:func:`~optimizer.instruments.capacity.relaxation`).
    """
    by_type = instruments_by_type(tl)
    families = [frozenset(f) for f in by_type.values()] + [
        frozenset({i})
        for i in range(len(tl.instrument_ids))
        if len(by_type[tl.instrument_type[i]]) > 1
    ]
    # Per step with options: its request, duration, and start ranges per instrument.
    steps = [
        (r, step.duration, dict(opts))
        for r, per_step in enumerate(options)
        if per_step and all(per_step)
        for step, opts in zip(tl.requests[r].steps, per_step, strict=True)
    ]
    rows: list[Row] = []
    pools: list[FamilyPool] = []
    for family in families:
        if any(tl.parallel(i) for i in family):
            continue
        group = [s for s in steps if s[2].keys() <= family]
        count: dict[int, int] = {}
        for r, _, _ in group:
            count[r] = count.get(r, 0) + 1
        group = [s for s in group if count[s[0]] == 1]
        if not group:
            continue
        members = sorted(family)
        starts: list[dict[int, list[Segment]]] = [{} for _ in members]
        for _, d, ranges in group:
            for k, i in enumerate(members):
                starts[k].setdefault(d, []).extend(ranges.get(i, []))
        starts = [{d: _merged(ranges) for d, ranges in here.items()} for here in starts]
        if all(_anywhere(tl, i, here) for i, here in zip(members, starts, strict=True)):
            continue
        durations = sorted({d for _, d, _ in group})
        kept = _weightings(durations)
        weightings = kept + _pooled_weightings(durations)
        caps = np.zeros(len(weightings), dtype=np.int64)
        for i, here in zip(members, starts, strict=True):
            held = most_in_sequence(here, tl.changeover[i], weightings)
            if held is None:
                break
            caps += np.array(held, dtype=np.int64)
        else:
            name = ",".join(sorted(tl.instrument_ids[i] for i in family))
            column = {d: k for k, d in enumerate(durations)}
            pool = FamilyPool(
                name,
                np.array([r for r, _, _ in group]),
                np.array([column[d] for _, d, _ in group]),
                np.array([[g[d] for d in durations] for g in weightings], dtype=np.int64),
                caps,
            )
            for k, extra in enumerate(EXTRA_MINUTES):
                row = pool.row(k)
                if sum(row.need.values()) > row.cap:
                    label = "sessions" if extra is None else f"minutes+{extra}"
                    rows.append(dataclasses.replace(row, name=f"sequence[{name}][{label}]"))
            if len(weightings) > len(kept):
                pools.append(
                    FamilyPool(
                        name,
                        pool.requests,
                        pool.duration,
                        pool.weight[len(kept) :],
                        pool.cap[len(kept) :],
                    )
                )
    return Sequences(rows, pools)


def _anywhere(tl: Timeline, instrument: int, starts: dict[int, list[Segment]]) -> bool:
    """Whether steps of every duration may start wherever the instrument's free time holds
    them: nothing (a shift, a release, a deadline) narrows their starts."""
    return all(
        ranges == _merged(start_ranges(tl.free[instrument], d, 0, tl.horizon))
        for d, ranges in starts.items()
    )


def _merged(ranges: list[Segment]) -> list[Segment]:
    """Closed integer ranges, sorted and joined where they meet or touch."""
    out: list[Segment] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
