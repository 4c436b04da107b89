"""Neighbourhood search on large weeks, and the validity of the energy bound it reports."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.instruments import lns, model
from optimizer.instruments.generate import week_document
from optimizer.instruments.greedy import greedy
from optimizer.instruments.lns import PROMISE_NOISE, _neighbourhood
from optimizer.instruments.timeline import build_timeline, sub_timeline
from tests.instruments.helpers import TEST_OPTIONS, at, base_document, request, step


def test_a_packed_two_day_instrument_keeps_its_optimum():
    """Two 840-minute days, changeover 30: four 405-minute sessions fit exactly (two a day).

    The energy row over both days must allow a changeover per free piece, not per
    instrument: otherwise it cuts this schedule off and a wrong optimum of 3 is claimed.
    """
    doc = base_document(
        horizon={"start": at(0), "end": at(2880)},
        instruments=[
            {
                "id": "fib-1",
                "type": "fib",
                "site": "site-a",
                "changeover_minutes": 30,
                "availability": [
                    {"start": at(0), "end": at(840)},
                    {"start": at(1440), "end": at(2280)},
                ],
            }
        ],
        operators=[],
        requests=[request(f"r{k}", step(["fib-1"], 405)) for k in range(5)],
    )
    sol = solve_document(doc, overrides=TEST_OPTIONS)
    assert sol.verification.valid
    assert sol.objective == 4
    assert sol.bound is not None and sol.bound >= 4 - 1e-9


@pytest.fixture
def week():
    return week_document(60, 12, 8, seed=11)


def test_fixed_bookings_are_cut_out_of_the_sub_timeline(week):
    tl = build_timeline(parse_document(week).instance)
    base = greedy(tl)
    free = base.served[:5]
    fixed = [p for p in base.bookings if p.request not in set(free)]
    sub = sub_timeline(tl, free, fixed)
    assert [r.id for r in sub.requests] == [tl.requests[r].id for r in free]
    assert all(s.request == k for k, r in enumerate(sub.requests) for s in r.steps)
    for p in fixed:
        c = tl.changeover[p.instrument]
        for a, b in sub.free[p.instrument]:  # no free minute within the booking's changeover
            assert b <= p.start - c or a >= p.end + c
        if p.operator is not None:
            for a, b in sub.operator_free[p.operator]:
                assert b <= p.start or a >= p.end
    assert any(limit.kind == "quota" for limit in tl.limits)
    for limit, left in zip(tl.limits, sub.limits, strict=True):
        used = sum(
            p.end - p.start
            for p in fixed
            if tl.requests[p.request].institution == limit.institution
            and tl.instrument_type[p.instrument] == limit.instrument_type
        )
        assert left.cap == limit.cap - used


def test_neighbourhood_search_verifies_and_beats_first_come_first_served(week, monkeypatch):
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)  # take the large-week path on a small week
    greedy_sol = solve_document(week, overrides={**TEST_OPTIONS, "solver": "greedy"})
    sol = solve_document(week, overrides={**TEST_OPTIONS, "time_limit_s": 4, "explain": False})
    assert sol.verification.valid
    assert sol.kpis["neighbourhoods"] > 0
    assert sol.objective >= greedy_sol.objective
    assert sol.bound is not None and sol.bound >= sol.objective


def test_the_reported_bound_holds_against_a_proven_optimum(week, monkeypatch):
    """The bound of the large-week path is at least what a full CP-SAT run proves optimal."""
    small = dict(week, requests=week["requests"][:25])
    exact = solve_document(small, overrides={**TEST_OPTIONS, "explain": False})
    assert str(exact.status) == "optimal"
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)
    sol = solve_document(small, overrides={**TEST_OPTIONS, "time_limit_s": 3, "explain": False})
    assert sol.verification.valid
    assert sol.objective <= exact.objective + 1e-9
    assert sol.bound >= exact.objective - 1e-9


def test_waiting_requests_enter_a_neighbourhood_most_promising_first(week):
    """With a promise per request, every unserved request promised whole (1) comes before
    any promised less than half (the noise is at most 0.5), whatever the random draw."""
    assert PROMISE_NOISE <= 0.5
    tl = build_timeline(parse_document(week).instance)
    served: set[int] = set()  # nothing booked: a neighbourhood is all waiting requests
    promise = [1.0 if r % 3 == 0 else 0.4 * (r % 2) for r in range(len(tl.requests))]
    for seed in range(20):
        chosen = _neighbourhood(tl, random.Random(seed), [], served, 10, promise)
        assert chosen, "the week has requests waiting on every day"
        promised = [promise[r] for r in chosen]
        whole = [k for k, p in enumerate(promised) if p == 1.0]
        less = [k for k, p in enumerate(promised) if p < 0.5]
        assert not whole or not less or max(whole) < min(less)
        # and none promised whole was left out for one promised less
        eligible = set(_neighbourhood(tl, random.Random(seed), [], served, 10**6, promise))
        left_out = {r for r in eligible - set(chosen) if promise[r] == 1.0}
        assert not left_out or not less


def test_booked_requests_leave_a_neighbourhood_least_promising_first(week):
    """Booked requests are freed in the opposite order: every one promised nothing (0)
    before any promised whole (1), so that the neighbourhood frees what the LP would drop."""
    tl = build_timeline(parse_document(week).instance)
    base = greedy(tl)
    served = set(base.served)
    promise = [float(r % 2) for r in range(len(tl.requests))]
    for seed in range(20):
        chosen = _neighbourhood(tl, random.Random(seed), base.bookings, served, 6, promise)
        booked = [r for r in chosen if r in served]
        window = _neighbourhood(tl, random.Random(seed), base.bookings, served, 10**6, promise)
        in_window = [r for r in window if r in served]
        assert booked == in_window[: len(booked)]  # the same order, cut short
        kept = [promise[r] for r in in_window]
        assert kept == sorted(kept)  # nothing promised whole before one promised nothing


def test_a_stop_request_ends_a_large_week_solve_inside_a_neighbourhood(monkeypatch):
    """Regression: neighbourhoods ran a CP-SAT solver of their own, deaf to a stop request,
    which only took effect once the neighbourhood ended. Here the one neighbourhood is the
    whole week, with an hour to search it: only the stop request can end it in time, and
    the answer is then the best schedule so far, verified."""
    from optimizer.core.envelope import Status
    from optimizer.instruments import lns
    from optimizer.instruments.generate import week_document

    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)  # the large-week path
    monkeypatch.setattr(model, "MIP_BOUND_SECONDS", 0.0)  # no HiGHS bound first
    monkeypatch.setattr(lns, "DAY", 7 * 1440)  # a neighbourhood's day is the whole week,
    monkeypatch.setattr(lns, "MIXED", 1.0)  # across every type,
    monkeypatch.setattr(lns, "SIZE", 10**6)  # with every request in it,
    monkeypatch.setattr(lns, "STEP_SECONDS", 3600.0)  # searched for up to an hour
    real = lns.run_cpsat
    neighbourhoods = []

    def stop_as_the_neighbourhood_starts(cp_model, context, **kwargs):
        context.stop.set()  # a client presses stop as the search begins
        run = real(cp_model, context, **kwargs)
        neighbourhoods.append(run.status)
        return run

    monkeypatch.setattr(lns, "run_cpsat", stop_as_the_neighbourhood_starts)
    doc = week_document(300, 12, 8, seed=5)
    options = {**TEST_OPTIONS, "time_limit_s": 3600, "explain": False}
    solutions = []
    worker = threading.Thread(
        target=lambda: solutions.append(solve_document(doc, overrides=options)), daemon=True
    )
    worker.start()
    worker.join(timeout=300)  # a generous deadline: the condition is that it returns at all
    assert not worker.is_alive(), "the stop request did not end the neighbourhood"
    (sol,) = solutions
    assert neighbourhoods and neighbourhoods[0] != Status.OPTIMAL  # stopped, not finished
    assert len(neighbourhoods) == 1  # and no neighbourhood after the stop
    assert sol.status == Status.FEASIBLE
    assert sol.verification.valid, sol.verification.violations
    assert sol.objective is not None and sol.objective > 0


def test_neighbourhoods_report_only_whole_schedules(week, monkeypatch):
    """A neighbourhood's own objective is a part of the week's: progress shows only the
    whole schedule's value, which never goes down, under a bound that holds."""
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)
    updates = []
    options = {**TEST_OPTIONS, "time_limit_s": 4, "explain": False}
    sol = solve_document(week, overrides=options, progress=updates.append)
    assert sol.verification.valid
    assert sol.kpis["neighbourhoods"] > 0
    values = [u.objective for u in updates if u.objective is not None]
    assert values and values == sorted(values)
    assert values[-1] == pytest.approx(sol.objective)
    bounds = {u.bound for u in updates if u.objective is not None}
    assert all(b is not None and b >= values[-1] - 1e-9 for b in bounds)


@pytest.fixture
def facility_week():
    return week_document(60, 12, 8, seed=11, attended_minutes=60, hpc_capacity=3)


def test_a_sub_timeline_keeps_fixed_jobs_beside_the_free_ones(facility_week):
    """Fixed bookings on a parallel instrument are load the free ones run beside, not holes;
    fixed staffed steps take only their attended parts out of their operator's time."""
    tl = build_timeline(parse_document(facility_week).instance)
    base = greedy(tl)
    free = base.served[:5]
    fixed = [p for p in base.bookings if p.request not in set(free)]
    sub = sub_timeline(tl, free, fixed)
    for p in fixed:
        step = tl.requests[p.request].steps[p.step]
        if tl.parallel(p.instrument):
            assert sub.free[p.instrument] == tl.free[p.instrument]
            assert (p.start, p.end, *tl.demand(step, p.instrument)) in sub.fixed_load[p.instrument]
        if p.operator is not None:
            for x, y in step.attended:
                for a, b in sub.operator_free[p.operator]:
                    assert b <= p.start + x or a >= p.start + y
    assert any(sub.fixed_load), "the week has jobs on its clusters"


def test_neighbourhood_search_with_attended_steps_and_clusters_stays_valid(
    facility_week, monkeypatch
):
    """The large-week path (neighbourhoods, capacity bound) on a week with contract 6.7's
    resources: every schedule verifies, and the bound is at least the proven optimum."""
    small = dict(facility_week, requests=facility_week["requests"][:25])
    exact = solve_document(small, overrides={**TEST_OPTIONS, "explain": False})
    assert str(exact.status) == "optimal"
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)
    sol = solve_document(small, overrides={**TEST_OPTIONS, "time_limit_s": 3, "explain": False})
    assert sol.verification.valid, sol.verification.violations
    assert sol.objective <= exact.objective + 1e-9
    assert sol.bound >= exact.objective - 1e-9


def test_a_crew_neighbourhood_stays_on_the_instruments_of_one_crew(week, monkeypatch):
    """A crew neighbourhood frees the sessions on the instruments one instrument's operators
    serve, and takes in waiting requests that could use them: where those operators' time
    can move from one instrument to another."""
    monkeypatch.setattr(lns, "CREW", 1.0)
    tl = build_timeline(parse_document(week).instance)
    base = greedy(tl)
    served = set(base.served)
    staffed = [i for i in range(len(tl.instrument_ids)) if tl.operators_for(i)]
    crews = [lns._crew(tl, i) for i in staffed]
    assert any(len(crew) < len(tl.instrument_ids) for crew in crews)
    for seed in range(20):
        chosen = _neighbourhood(tl, random.Random(seed), base.bookings, served, 10**6, None)
        assert chosen
        on = {r: {p.instrument for p in base.bookings if p.request == r} for r in chosen}
        eligible = {r: {i for s in tl.requests[r].steps for i in s.instruments} for r in chosen}
        assert any(
            all(on[r] & crew if r in served else eligible[r] & crew for r in chosen)
            for crew in crews
        )


def test_a_neighbourhood_that_runs_out_of_time_narrows_the_next(week, monkeypatch):
    """Where a neighbourhood's time runs out before its optimum, the next frees
    ``SIZE_STEP`` requests fewer, never fewer than ``MIN_SIZE``."""
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)
    tries: list[list] = []  # per neighbourhood: the size asked for, how its run ended
    solve = lns.run_cpsat

    def neighbourhood(tl, rng, placed, served, size, promise=None):
        tries.append([size, None])
        return _neighbourhood(tl, rng, placed, served, size, promise)

    def run(*args, **kwargs):
        kwargs["time_limit"] = 0.002  # too short to prove most neighbourhoods
        result = solve(*args, **kwargs)
        tries[-1][1] = str(result.status)
        return result

    monkeypatch.setattr(lns, "_neighbourhood", neighbourhood)
    monkeypatch.setattr(lns, "run_cpsat", run)
    sol = solve_document(week, overrides={**TEST_OPTIONS, "time_limit_s": 4, "explain": False})
    assert sol.verification.valid
    assert tries[0][0] == lns.SIZE and min(size for size, _ in tries) >= lns.MIN_SIZE
    narrowed = 0
    for (before, status), (after, _) in itertools.pairwise(tries):
        if status is not None and status != "optimal":
            assert after == max(lns.MIN_SIZE, before - lns.SIZE_STEP)
            narrowed += after < before
    assert narrowed > 0
