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
from collections.abc import Sequence

from optimizer.instruments.rows import Row, instruments_by_type
from optimizer.instruments.timeline import Segment, Timeline, start_ranges

# Weightings g(d) = d + extra for these extras, and g(d) = 1 (None: sessions counted alone).
# Minutes alone favour long sessions, counts alone short ones; the LP combines the rows
# in between, so a spread from one end to the other serves it.
EXTRA_MINUTES: tuple[int | None, ...] = (0, 60, 240, 720, 1440, None)

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
        for d in durations:
            s = earliest(d, t)
            if s is not None:
                here.append((d, s + d + changeover))
                waiting.append(s + d + changeover)
        moves[t] = here
    best: dict[int, list[int]] = {}
    for t in sorted(moves, reverse=True):  # every move goes to a later state
        value = [0] * len(weightings)
        for d, after in moves[t]:
            rest = best[after]
            for k, g in enumerate(weightings):
                value[k] = max(value[k], g[d] + rest[k])
        best[t] = value
    return best[origin]


def _weightings(durations: list[int]) -> list[dict[int, int]]:
    return [{d: 1 if extra is None else d + extra for d in durations} for extra in EXTRA_MINUTES]


def sequence_rows(tl: Timeline, options: list[list[list[tuple[int, list[Segment]]]]]) -> list[Row]:
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

    Rows are kept only where they can bind.
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
        weightings = _weightings(durations)
        caps = [0] * len(weightings)
        for i, here in zip(members, starts, strict=True):
            held = most_in_sequence(here, tl.changeover[i], weightings)
            if held is None:
                break
            caps = [c + h for c, h in zip(caps, held, strict=True)]
        else:
            name = ",".join(sorted(tl.instrument_ids[i] for i in family))
            for extra, g, cap in zip(EXTRA_MINUTES, weightings, caps, strict=True):
                need: dict[int, int] = {}
                for r, d, _ in group:
                    need[r] = need.get(r, 0) + g[d]
                if sum(need.values()) > cap:
                    label = "sessions" if extra is None else f"minutes+{extra}"
                    rows.append(Row(need, cap, f"sequence[{name}][{label}]"))
    return rows


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
