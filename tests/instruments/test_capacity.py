"""The capacity rows behind the large-week bound: valid, and tight where they claim to be."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.instruments import capacity, formulation, model, packing
from optimizer.instruments.generate import week_document
from optimizer.instruments.timeline import build_timeline
from tests.instruments.helpers import TEST_OPTIONS, at, base_document, request, step


def _bound(doc: dict) -> float | None:
    tl = build_timeline(parse_document(doc).instance)
    return capacity.lp_bound(tl, capacity.relaxation(tl, capacity.all_options(tl)))


def test_knapsack_matches_brute_force():
    rng = random.Random(5)
    for _ in range(30):
        sizes = sorted(rng.sample(range(3, 40), 3))
        values = [rng.randrange(0, 50) for _ in sizes]
        cap = rng.randrange(0, 100)
        best = 0
        for counts in itertools.product(*(range(cap // s + 1) for s in sizes)):
            if sum(c * s for c, s in zip(counts, sizes, strict=True)) <= cap:
                best = max(best, sum(c * v for c, v in zip(counts, values, strict=True)))
        assert packing._knapsack(sizes, values, cap) == best


def _two_shifts(n: int, minutes: int) -> dict:
    """One operator on two 540-minute shifts; ``n`` staffed sessions of ``minutes`` each."""
    shifts = [{"start": at(0), "end": at(540)}, {"start": at(1440), "end": at(1980)}]
    return base_document(
        horizon={"start": at(0), "end": at(2880)},
        operators=[{"id": "op-1", "instruments": ["em-1"], "availability": shifts}],
        requests=[
            request(f"r{k}", step(["em-1"], minutes, operator_required=True)) for k in range(n)
        ],
    )


def test_whole_steps_per_shift_bound_what_minutes_do_not():
    """Three 300-minute sessions need 900 of the operator's 1,080 minutes, but a 540-minute
    shift holds only one of them: the packing rows bound the week at 2, as solving shows."""
    doc = _two_shifts(3, 300)
    value = _bound(doc)
    assert value is not None and value == pytest.approx(2, abs=1e-4)
    sol = solve_document(doc, overrides=TEST_OPTIONS)
    assert sol.objective == 2
    assert str(sol.status) == "optimal"


def test_packing_rows_keep_an_exact_fit():
    """Four 270-minute sessions fill both shifts exactly: the bound must still allow all four."""
    doc = _two_shifts(4, 270)
    value = _bound(doc)
    assert value is not None and value >= 4 - 1e-9
    assert solve_document(doc, overrides=TEST_OPTIONS).objective == 4


def test_changeovers_are_priced_in_instrument_pieces():
    """An 840-minute piece with a 30-minute changeover holds two 405-minute sessions, not
    three 270-minute ones plus a fourth: (270 + 30) * 3 - 30 = 870 > 840."""
    doc = base_document(
        instruments=[
            {
                "id": "fib-1",
                "type": "fib",
                "site": "site-a",
                "changeover_minutes": 30,
                "availability": [{"start": at(0), "end": at(840)}],
            }
        ],
        operators=[],
        requests=[request(f"r{k}", step(["fib-1"], 270)) for k in range(4)],
    )
    value = _bound(doc)
    assert value is not None and value == pytest.approx(2, abs=1e-4)
    assert solve_document(doc, overrides=TEST_OPTIONS).objective == 2


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_capacity_bound_holds_against_proven_optima(seed):
    """On small seeded weeks CP-SAT proves the optimum; the rows never cut it off."""
    doc = week_document(20, 6, 4, seed=seed)
    exact = solve_document(doc, overrides={**TEST_OPTIONS, "explain": False})
    assert str(exact.status) == "optimal"
    tl = build_timeline(parse_document(doc).instance)
    rel = capacity.relaxation(tl, capacity.all_options(tl))
    lp = capacity.lp_bound(tl, rel)
    mip = capacity.mip_bound(tl, rel, time_limit=5, threads=1, seed=0)
    assert lp is not None and lp >= exact.objective - 1e-9
    assert mip is not None and mip >= exact.objective - 1e-9


def test_a_large_week_carries_a_bound_even_on_a_short_limit(monkeypatch):
    """Regression: at 3,000 requests a 10 s solve came back with no bound, because the bound
    was read off a CP-SAT model that took longer than that to build."""
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)

    def no_full_model(*args, **kwargs):
        raise AssertionError("the large-week path builds no model of the whole week")

    monkeypatch.setattr(formulation.ScheduleModel, "set_objective", no_full_model)
    doc = week_document(60, 12, 8, seed=11)
    sol = solve_document(doc, overrides={**TEST_OPTIONS, "time_limit_s": 2, "explain": False})
    assert sol.verification.valid
    assert sol.bound is not None and sol.bound >= sol.objective


def test_minutes_between_grid_points_by_prefix_sums_match_the_direct_count():
    import random

    from optimizer.instruments.rows import _minutes, _minutes_on
    from optimizer.instruments.timeline import merge

    rng = random.Random(5)
    grid = list(range(0, 10 * 1440 + 1, 1440))
    for _ in range(20):
        resources = []
        for _ in range(rng.randrange(1, 4)):
            starts = sorted(rng.sample(range(0, 10 * 1440), 12))
            resources.append(merge([(a, a + rng.randrange(1, 900)) for a in starts]))
        resources = [[(a, min(b, 10 * 1440)) for a, b in segments] for segments in resources]
        on_grid = _minutes_on(resources, grid)
        for x, a in enumerate(grid):
            for b in grid[x + 1 :]:
                assert on_grid(a, b) == _minutes(resources, a, b)


def test_the_dual_bound_holds_for_any_duals_and_is_tight_for_the_solvers():
    """Weak duality, computed exactly: any nonnegative duals give a bound on the optimum
    (here a dynamic programme's), and the LP's own duals give the LP's value."""
    from tests.instruments.test_oracles import rigid_document, weighted_interval_optimum

    document, jobs = rigid_document(random.Random(8), 60)
    optimum = weighted_interval_optimum(jobs)
    tl = build_timeline(parse_document(document).instance)
    rel = capacity.relaxation(tl, capacity.all_options(tl))
    solution = capacity.lp_solution(tl, rel)
    assert solution is not None
    assert optimum - 1e-9 <= solution.bound <= optimum + 1e-6  # rigid: the LP is integral
    rows = rel.rows
    rng = random.Random(9)
    for trial in range(20):
        duals = [rng.choice([0.0, rng.uniform(0, 3), -1.0]) for _ in rows]
        if trial == 0:
            duals = [0.0] * len(rows)  # no duals: the sum of all weights
        assert capacity._dual_bound(tl, rel, rows, duals) >= optimum - 1e-9


def test_windows_reach_a_week_and_whole_weeks_from_the_horizon_ends():
    from optimizer.instruments.rows import day_windows

    grid, windows = day_windows(30 * 1440)
    assert grid == list(range(0, 30 * 1440 + 1, 1440))
    assert (0, 21 * 1440) in windows and (2 * 1440, 30 * 1440) in windows  # whole weeks
    assert (0, 20 * 1440) not in windows and (3 * 1440, 30 * 1440) not in windows
    assert (3 * 1440, 10 * 1440) in windows and (3 * 1440, 11 * 1440) not in windows
    assert (0, 30 * 1440) in windows  # the whole horizon
    _, week = day_windows(7 * 1440)
    assert len(week) == 7 * 8 // 2  # a week keeps every window between day boundaries


def test_a_model_given_the_rows_does_not_solve_their_lp_again(monkeypatch):
    """The caller's LP may have stopped at its share of the time (model.LP_SHARE): the
    model built on the caller's rows then has no LP bound, rather than solving the LP
    again without a limit. Given the LP, the model takes its bound as it is."""
    doc = base_document(requests=[request(f"r{k}", step(["em-1"], 120)) for k in range(6)])
    tl = build_timeline(parse_document(doc).instance)
    rel = capacity.relaxation(tl, capacity.all_options(tl))
    solved = capacity.lp_solution(tl, rel)
    assert solved is not None

    def must_not_run(*args, **kwargs):
        raise AssertionError("the LP was solved again")

    monkeypatch.setattr(capacity, "lp_bound", must_not_run)
    monkeypatch.setattr(capacity, "lp_solution", must_not_run)
    gave_up = formulation.ScheduleModel(tl, relaxation=rel, lp=None)
    gave_up.set_objective()
    assert gave_up.lp_value is None
    given = formulation.ScheduleModel(tl, relaxation=rel, lp=solved)
    given.set_objective()
    assert given.lp_value == solved.bound


def test_staffed_minutes_are_the_matched_pairs_counted_minute_by_minute():
    """The staffed capacity of a family over [a, b) is, minute by minute, the largest set of
    (free instrument, qualified operator on shift) pairs sharing neither: checked against
    every assignment of operators to instruments, one minute at a time."""
    from optimizer.instruments.rows import _staffed_minutes_on
    from optimizer.instruments.timeline import merge

    rng = random.Random(7)
    horizon, grid = 600, [0, 200, 400, 600]
    for _ in range(12):
        n_instruments, n_operators = rng.randrange(1, 4), rng.randrange(1, 4)

        def pieces() -> list[tuple[int, int]]:
            starts = sorted(rng.sample(range(0, horizon, 10), 3))
            return merge([(a, min(horizon, a + rng.randrange(30, 300))) for a in starts])

        free = [pieces() for _ in range(n_instruments)]
        shifts = [pieces() for _ in range(n_operators)]
        qualified = [
            {i for i in range(n_instruments) if rng.random() < 0.6} for _ in range(n_operators)
        ]
        # The three things of a timeline the capacity reads.
        tl = SimpleNamespace(
            capacity=[1] * n_instruments,
            operator_free=shifts,
            operators_for=lambda i, q=qualified: [o for o in range(len(q)) if i in q[o]],
        )
        on_grid = _staffed_minutes_on(tl, set(range(n_instruments)), free, grid)

        for x, a in enumerate(grid):
            for b in grid[x + 1 :]:
                assert on_grid(a, b) == sum(
                    _pairs_at(t, free, shifts, qualified) for t in range(a, b)
                )


def _pairs_at(
    t: int,
    free: list[list[tuple[int, int]]],
    shifts: list[list[tuple[int, int]]],
    qualified: list[set[int]],
) -> int:
    """The most operators on shift at minute ``t`` each at a different free instrument it is
    qualified for, by trying every choice of operators and instruments."""
    open_now = [i for i, pieces in enumerate(free) if any(x <= t < y for x, y in pieces)]
    crew = [o for o, pieces in enumerate(shifts) if any(x <= t < y for x, y in pieces)]
    best = 0
    for k in range(1, min(len(open_now), len(crew)) + 1):
        for who in itertools.permutations(crew, k):
            for where in itertools.combinations(open_now, k):
                if all(i in qualified[o] for o, i in zip(who, where, strict=True)):
                    best = k
    return best


def test_operators_beyond_the_free_instruments_are_no_room():
    """Two instruments; three operators on shift for the first 300 minutes, one for the
    next 300. Four 300-minute staffed sessions need 1,200 operator minutes, as many as the
    shifts hold, but at most two run at once early and one late: the bound is 3, as
    solving shows."""
    shifts = [[0, 300], [0, 300], [0, 300], [300, 600]]
    doc = base_document(
        horizon={"start": at(0), "end": at(600)},
        operators=[
            {
                "id": f"op-{k}",
                "instruments": ["em-1", "em-2"],
                "availability": [{"start": at(a), "end": at(b)}],
            }
            for k, (a, b) in enumerate(shifts)
        ],
        requests=[request(f"r{k}", step("em", 300, operator_required=True)) for k in range(4)],
    )
    value = _bound(doc)
    assert value is not None and value == pytest.approx(3, abs=1e-4)
    sol = solve_document(doc, overrides=TEST_OPTIONS)
    assert sol.objective == 3
    assert str(sol.status) == "optimal"


def test_a_clusters_cores_bound_what_its_job_slots_do_not():
    """A cluster of 8 job slots and 16 cores over one day; six 720-minute jobs of 8 cores
    each. The slots hold all six at once, the cores only two: 4 jobs a day, 34,560 core
    minutes asked of 23,040. The bound is 4 (it was 6 before cores were counted), as
    solving shows."""
    doc = base_document(
        instruments=[{"id": "hpc-1", "type": "hpc", "site": "site-a", "capacity": 8, "cores": 16}],
        operators=[],
        requests=[request(f"r{k}", step(["hpc-1"], 720, cores=8)) for k in range(6)],
    )
    value = _bound(doc)
    assert value is not None and value == pytest.approx(4, abs=1e-4)
    sol = solve_document(doc, overrides=TEST_OPTIONS)
    assert sol.objective == 4
    assert str(sol.status) == "optimal"
