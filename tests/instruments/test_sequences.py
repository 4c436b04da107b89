"""Sequence rows of the capacity bound: the programme against a minute-by-minute one, the
rows against an exact time-indexed MIP, and a case only they see."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status
from optimizer.instruments import capacity, sequences
from optimizer.instruments.timeline import build_timeline

from .helpers import at, base_document, request, solve, step, time_indexed_optimum


def every_minute(
    starts: dict[int, list[tuple[int, int]]], changeover: int, weighting: dict[int, int]
) -> int:
    """The same maximum by a programme over every minute: from minute t, wait a minute or
    start any session whose ranges hold t."""
    end = max((b for ranges in starts.values() for _, b in ranges), default=0) + 1
    best = [0] * (end + max(starts, default=0) + changeover + 2)
    for t in range(end, -1, -1):
        value = best[t + 1]
        for d, ranges in starts.items():
            if any(a <= t <= b for a, b in ranges):
                value = max(value, weighting[d] + best[t + d + changeover])
        best[t] = value
    return best[0]


def test_the_programme_matches_one_over_every_minute():
    rng = random.Random(41)
    for _ in range(200):
        durations = rng.sample(range(2, 15), rng.randrange(1, 4))
        starts: dict[int, list[tuple[int, int]]] = {}
        for d in durations:
            points = sorted(rng.sample(range(0, 60), 2 * rng.randrange(1, 4)))
            starts[d] = sequences._merged(list(zip(points[::2], points[1::2], strict=True)))
        changeover = rng.randrange(0, 5)
        weightings = [{d: rng.randrange(0, 20) for d in durations} for _ in range(3)]
        held = sequences.most_in_sequence(starts, changeover, weightings)
        assert held == [every_minute(starts, changeover, g) for g in weightings]


def test_the_programme_gives_up_past_its_states():
    starts = {d: [(0, 10_000)] for d in (7, 11, 13)}
    assert sequences.most_in_sequence(starts, 0, [{7: 1, 11: 1, 13: 1}], most_states=50) is None


def _bounds(doc: dict[str, Any]) -> tuple[float, float]:
    """The capacity LP's bound with the sequence rows, and without them."""
    tl = build_timeline(parse_document(doc).instance)
    rel = capacity.relaxation(tl, capacity.all_options(tl))
    with_rows = capacity.lp_bound(tl, rel)
    rel.sequence = []  # the rows kept from the start and those taken in from the pools
    without = capacity.lp_bound(tl, rel)
    assert with_rows is not None and without is not None
    return with_rows, without


def shifts_document(rng: random.Random, n: int) -> dict[str, Any]:
    """Two days on an hourly grid: two microscopes with an hour's changeover, operators on
    short shifts, sessions attended at the start only or throughout, some followed by an
    NMR run an hour away."""
    grid = 60

    def shift(day: int) -> dict[str, str]:
        first = rng.randrange(0, 8)
        return {
            "start": at(day * 1440 + grid * first),
            "end": at(day * 1440 + grid * (first + rng.randrange(1, 5))),
        }

    doc = base_document(
        horizon={"start": at(0), "end": at(2880)},
        instruments=[
            {"id": "em-1", "type": "em", "site": "site-a", "changeover_minutes": 60},
            {"id": "em-2", "type": "em", "site": "site-a", "changeover_minutes": 120},
            {"id": "nmr-1", "type": "nmr", "site": "site-b", "changeover_minutes": 60},
        ],
        operators=[
            {"id": "op-1", "instruments": ["em-1", "em-2"], "availability": [shift(0), shift(1)]},
            {"id": "op-2", "instruments": ["em-2"], "availability": [shift(0), shift(1)]},
        ],
    )
    requests = []
    for k in range(n):
        minutes = grid * rng.randrange(2, 9)
        fields: dict[str, Any] = {"operator_required": True}
        if rng.random() < 0.7:
            fields["attended_minutes"] = grid
        where: list[str] | str = rng.choice(["em", ["em-1"], ["em-2"]])
        steps = [step(where, minutes, **fields)]
        if rng.random() < 0.3:
            steps.append(step("nmr", grid * rng.randrange(1, 6)))
        extra: dict[str, Any] = {"weight": rng.choice([1, 2, 3])}
        if rng.random() < 0.3:
            extra["release"] = at(1440 * rng.randrange(0, 2))
        requests.append(request(f"r{k}", *steps, **extra))
    doc["requests"] = requests
    return doc


SEEDS = range(10)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_rows_never_cut_off_the_optimum(seed):
    """Every row holds for every schedule: the LP with them stays at or above the exact
    optimum of a time-indexed MIP written from the contract alone, and the solver's
    answer verifies between the two."""
    doc = shifts_document(random.Random(5100 + seed), 7)
    expected = time_indexed_optimum(doc, 60)
    with_rows, without = _bounds(doc)
    assert expected - 1e-6 <= with_rows <= without + 1e-6
    result = solve(doc)
    assert result.verification.valid, result.verification.violations
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound is not None and result.bound >= expected - 1e-6


def test_the_rows_cut_in_on_the_random_weeks_above():
    """The weeks of the test above are ones where the rows matter: on some, the bound with
    them is lower than without (otherwise that test could not catch a row too tight)."""
    tighter = 0
    for seed in SEEDS:
        with_rows, without = _bounds(shifts_document(random.Random(5100 + seed), 7))
        tighter += with_rows < without - 1e-6
    assert tighter >= 3


def test_pooled_rows_the_lp_takes_in_never_cut_off_the_optimum():
    """Busier weeks, where rows from the pool of weightings are taken in: the LP stays at or
    above the exact optimum with them, and on some weeks they lower it."""
    lowered = 0
    for seed in range(40):
        doc = shifts_document(random.Random(7100 + seed), 12)
        tl = build_timeline(parse_document(doc).instance)
        options = capacity.all_options(tl)
        rel = capacity.relaxation(tl, options)
        with_pool = capacity.lp_bound(tl, rel)
        rel.sequence = sequences.sequence_rows(tl, options).rows
        without = capacity.lp_bound(tl, rel)
        assert with_pool is not None and without is not None
        assert time_indexed_optimum(doc, 60) - 1e-6 <= with_pool <= without + 1e-6
        lowered += with_pool < without - 1e-6
    assert lowered >= 3


def test_a_pool_gives_the_rows_a_solution_breaks_most_first():
    pool = sequences.FamilyPool(
        "em-1",
        requests=np.array([0, 1, 2]),
        duration=np.array([0, 1, 1]),
        weight=np.array([[1, 0], [0, 1], [1, 1], [2, 2]]),
        cap=np.array([1, 2, 1, 2]),
    )
    # one step of each duration served: the rows weigh them 1, 1, 2 and 4, over by 0, -1, 1, 2
    broken = pool.violated([1.0, 1.0, 0.0], most=5)
    assert [(row.need, row.cap) for row in broken] == [
        ({0: 2, 1: 2, 2: 2}, 2),
        ({0: 1, 1: 1, 2: 1}, 1),
    ]
    assert pool.violated([1.0, 1.0, 0.0], most=1) == broken[:1]
    assert pool.violated([0.5, 0.0, 0.5], most=5) == []


def evenings_document() -> dict[str, Any]:
    """Three days, one microscope with an hour's changeover, its operator on shift 08:00-10:00:
    a session of three hours attended for its first hour must start by 09:00, so after it
    ends the microscope waits for the next morning. Four such sessions wait."""
    shifts = [{"start": at(day * 1440), "end": at(day * 1440 + 120)} for day in range(3)]
    return base_document(
        horizon={"start": at(0), "end": at(3 * 1440)},
        instruments=[{"id": "em-1", "type": "em", "site": "site-a", "changeover_minutes": 60}],
        operators=[{"id": "op-1", "instruments": ["em-1"], "availability": shifts}],
        requests=[
            request(f"r{k}", step(["em-1"], 180, operator_required=True, attended_minutes=60))
            for k in range(4)
        ],
    )


def test_one_session_a_morning_is_what_the_rows_allow():
    """Minutes see 180 + 60 of the 240 minutes each morning's sessions can reach, plus a
    piece's changeover: 3.75 sessions. In sequence, one a day: 3, the optimum."""
    doc = evenings_document()
    with_rows, without = _bounds(doc)
    assert without == pytest.approx(3.75)
    assert with_rows == pytest.approx(3)
    assert time_indexed_optimum(doc, 60) == 3
    result = solve(doc)
    assert result.verification.valid, result.verification.violations
    assert result.status == Status.OPTIMAL
    assert result.objective == result.bound == 3
