"""Objectives against independent oracles: a dynamic programme for weighted interval
scheduling, brute force for single-machine weighted tardiness, and JSPLIB optima."""

from __future__ import annotations

import bisect
import itertools
import random
from pathlib import Path

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.instruments import model
from optimizer.instruments import solve as solve_instance
from optimizer.instruments.generate import week_document
from optimizer.instruments.jsplib import jsplib_document, parse_jsplib

from .helpers import TEST_OPTIONS, at, base_document, request, solve, step

JSPLIB = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "jsplib"


def weighted_interval_optimum(jobs: list[tuple[int, int, float]]) -> float:
    """Classic DP over jobs sorted by end: best(k) = max(best(k-1), w_k + best(p(k)))."""
    jobs = sorted(jobs, key=lambda j: j[1])
    ends = [e for _, e, _ in jobs]
    best = [0.0] * (len(jobs) + 1)
    for k, (s, _e, w) in enumerate(jobs, start=1):
        p = bisect.bisect_right(ends, s, 0, k - 1)  # jobs ending by s are compatible
        best[k] = max(best[k - 1], w + best[p])
    return best[-1]


def rigid_document(rng: random.Random, n: int) -> tuple[dict, list[tuple[int, int, float]]]:
    jobs = []
    requests = []
    for k in range(n):
        start = rng.randrange(0, 1300)
        length = rng.randrange(10, 200)
        end = min(1440, start + length)
        weight = rng.choice([1.0, 1.5, 2.0, 3.25, 5.0, 0.75])
        jobs.append((start, end, weight))
        requests.append(
            request(
                f"r{k}",
                step(["em-1"], end - start),
                weight=weight,
                release=at(start),
                deadline=at(end),
            )
        )
    return base_document(requests=requests), jobs


@pytest.mark.parametrize("seed", range(6))
def test_weighted_interval_scheduling_matches_dynamic_programme(seed):
    rng = random.Random(seed)
    doc, jobs = rigid_document(rng, 14 + 3 * seed)
    expected = weighted_interval_optimum(jobs)
    result = solve(doc, solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound == pytest.approx(expected, abs=1e-6)
    baseline = solve(doc, solver="greedy")
    assert baseline.status == Status.FEASIBLE
    assert baseline.verification.valid, baseline.verification.violations
    assert baseline.objective <= expected + 1e-6


def tardiness_optimum(jobs: list[tuple[int, int, float]]) -> float:
    """Brute force over orders; with all releases at zero no idle time helps."""
    best = float("inf")
    for order in itertools.permutations(jobs):
        t, cost = 0, 0.0
        for duration, due, weight in order:
            t += duration
            cost += weight * max(0, t - due)
        best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(3))
def test_single_machine_weighted_tardiness_matches_brute_force(seed):
    rng = random.Random(100 + seed)
    jobs = [
        (rng.randrange(30, 200), rng.randrange(50, 600), rng.choice([1, 2, 3])) for _ in range(6)
    ]
    doc = base_document(
        objective="min_weighted_tardiness",
        requests=[
            request(f"r{k}", step(["em-1"], d), due=at(due), weight=w)
            for k, (d, due, w) in enumerate(jobs)
        ],
    )
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid
    assert result.objective == pytest.approx(tardiness_optimum(jobs), abs=1e-6)


@pytest.mark.parametrize(("name", "optimum"), [("ft06", 55), ("la01", 666)])
def test_jsplib_optimum_is_reached_and_proven(name, optimum):
    doc = jsplib_document((JSPLIB / f"{name}.txt").read_text(), name)
    result = solve(doc, time_limit_s=40)
    assert result.status == Status.OPTIMAL
    assert result.objective == optimum
    assert result.bound == optimum
    assert result.verification.valid


def test_jsplib_parser_reads_jobs_in_processing_order():
    jobs = parse_jsplib((JSPLIB / "ft06.txt").read_text())
    assert len(jobs) == 6 and all(len(j) == 6 for j in jobs)
    assert jobs[0][:2] == [(2, 1), (0, 3)]


def test_greedy_and_cpsat_both_verify_on_the_small_example():
    from optimizer.core.documents import parse_document

    path = Path(__file__).resolve().parents[2] / "instances" / "instruments" / "small-two-days.json"
    parsed = parse_document(path.read_text())
    assert parsed.instance is not None, parsed.issues
    results = {}
    for solver in ("greedy", "cp-sat"):
        options = Options(**TEST_OPTIONS, solver=solver)
        results[solver] = solve_instance(parsed.instance, options)
        assert results[solver].verification.valid, results[solver].verification.violations
    assert results["cp-sat"].status == Status.OPTIMAL
    assert results["cp-sat"].objective >= results["greedy"].objective
    explained = {e.subject for e in results["cp-sat"].explanations}
    assert explained == set(results["cp-sat"].solution["unscheduled"])


def test_generated_week_verifies_with_both_solvers_and_beats_first_come_first_served():
    doc = week_document(40, 6, 4, seed=7)
    baseline = solve(doc, solver="greedy")
    exact = solve(doc, solver="cp-sat", time_limit_s=8)
    for result in (baseline, exact):
        assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
        assert result.verification.valid, result.verification.violations
        assert {e.subject for e in result.explanations} == set(result.solution["unscheduled"])
    assert exact.objective >= baseline.objective
    assert exact.bound >= exact.objective - 1e-6
    assert exact.kpis["served_weight"] == exact.objective


def knapsack_optimum(items: list[tuple[int, float]], capacity: int) -> float:
    """0/1 knapsack by dynamic programme over capacity."""
    best = [0.0] * (capacity + 1)
    for size, value in items:
        for c in range(capacity, size - 1, -1):
            best[c] = max(best[c], best[c - size] + value)
    return best[capacity]


@pytest.mark.parametrize("seed", range(4))
def test_repeated_runs_keep_the_optimum_and_earlier_copies_go_first(seed):
    """Identical requests on one instrument free all day: the best choice is a knapsack.

    Symmetry breaking orders identical requests; it must not cut off the optimum, and the
    copies served are the first ones in list order, started in that order.
    """
    rng = random.Random(200 + seed)
    kinds = [(rng.choice([90, 120, 200, 300, 450]), rng.choice([1, 2, 3, 5])) for _ in range(4)]
    requests = [
        request(f"k{k}-{c}", step(["em-1"], minutes), weight=weight)
        for k, (minutes, weight) in enumerate(kinds)
        for c in range(3)
    ]
    rng.shuffle(requests)
    result = solve(base_document(requests=requests, operators=[]), solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    expected = knapsack_optimum([kind for kind in kinds for _ in range(3)], 1440)
    assert result.objective == pytest.approx(expected)
    starts = {b["request"]: b["start"] for b in result.solution["bookings"]}
    for k in range(len(kinds)):
        copies = [r["id"] for r in requests if r["id"].startswith(f"k{k}-")]  # list order
        served = [rid in starts for rid in copies]
        assert served == sorted(served, reverse=True), copies  # served copies come first
        times = [starts[rid] for rid in copies if rid in starts]
        assert times == sorted(times)


def test_identical_requests_are_grouped_only_when_nothing_but_the_id_differs():
    from optimizer.core.documents import parse_document
    from optimizer.instruments.symmetry import identical_requests
    from optimizer.instruments.timeline import build_timeline

    requests = [
        request("a", step(["em-1"], 60)),
        request("b", step(["em-1"], 60)),
        request("c", step(["em-1"], 60), weight=2),
        request("d", step(["em-1"], 60), institution="cqu"),
        request("e", step(["em-1", "em-2"], 60)),
        request(
            "f", step(["em-1"], 60), pinned=[{"step": 0, "instrument": "em-1", "start": at(600)}]
        ),
        request("g", step(["em-1"], 60), mandatory=True),
        request("h", step(["em-1"], 60)),
        request("i", step(["em-1"], 60), mandatory=True),
    ]
    tl = build_timeline(parse_document(base_document(requests=requests)).instance)
    ids = [[tl.requests[r].id for r in group] for group in identical_requests(tl)]
    assert ids == [["a", "b", "h"], ["g", "i"]]


@pytest.mark.parametrize("weight_of_b", [1, 2])
def test_model_orders_identical_requests_and_only_those(weight_of_b):
    """A later copy served before (or instead of) an earlier one is cut off; a request that
    differs (here by weight) is not constrained."""
    from ortools.sat.python import cp_model

    from optimizer.core.documents import parse_document
    from optimizer.instruments.formulation import ScheduleModel
    from optimizer.instruments.timeline import build_timeline

    requests = [
        request("a", step(["em-1"], 60)),
        request("b", step(["em-1"], 60), weight=weight_of_b),
    ]
    tl = build_timeline(parse_document(base_document(requests=requests, operators=[])).instance)
    outcomes = []
    for extra in ("b without a", "b before a"):
        sm = ScheduleModel(tl)
        a, b = sm.served
        if extra == "b without a":
            sm.model.add(b == 1)
            sm.model.add(a == 0)
        else:
            sm.model.add(a + b == 2)
            sm.model.add(sm.steps[1][0].start + 60 <= sm.steps[0][0].start)
        outcomes.append(cp_model.CpSolver().solve(sm.model))
    expected = cp_model.INFEASIBLE if weight_of_b == 1 else cp_model.OPTIMAL
    assert outcomes == [expected, expected]


def test_a_hint_serving_a_later_copy_is_relabelled_to_fit_the_order():
    from optimizer.core.documents import parse_document
    from optimizer.instruments.formulation import ScheduleModel
    from optimizer.instruments.symmetry import canonical
    from optimizer.instruments.timeline import Placed, build_timeline

    requests = [request(rid, step(["em-1"], 60)) for rid in ("a", "b", "c")]
    tl = build_timeline(parse_document(base_document(requests=requests, operators=[])).instance)
    sm = ScheduleModel(tl)
    hint = [Placed(2, 0, 0, None, 100, 160), Placed(1, 0, 0, None, 300, 360)]  # c, then b
    placed, served = canonical(hint, [1, 2], sm.identical)
    assert sorted(served) == [0, 1]
    assert sorted((p.request, p.start) for p in placed) == [(0, 100), (1, 300)]


def test_the_reported_objective_carries_no_rounding_noise():
    """0.1 + 0.1 + 0.1 is 0.30000000000000004 in floating point; a planner reads 0.3."""
    requests = [request(f"r{k}", step(["nmr-1"], 60), weight=0.1) for k in range(3)]
    result = solve(base_document(requests=requests), solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.objective == 0.3


def interval_scheduling_on_machines_optimum(jobs: list[tuple[int, int, float]], k: int) -> float:
    """k identical machines, rigid jobs: a min-cost flow (networkx) from the first time
    point to the last, k units along the time line, each job an arc of capacity one."""
    import networkx as nx

    scale = 100  # weights have two decimals: whole costs keep the flow exact
    points = sorted({t for s, e, _ in jobs for t in (s, e)})
    g = nx.DiGraph()
    for a, b in itertools.pairwise(points):
        g.add_edge(a, b, capacity=k, weight=0)
    for n, (s, e, w) in enumerate(jobs):  # a node per job keeps parallel arcs apart
        g.add_edge(s, ("job", n), capacity=1, weight=-round(w * scale))
        g.add_edge(("job", n), e, capacity=1, weight=0)
    g.nodes[points[0]]["demand"] = -k
    g.nodes[points[-1]]["demand"] = k
    return -nx.min_cost_flow_cost(g) / scale


def rigid_pool_document(
    rng: random.Random, machines: int, n: int, days: int = 1
) -> tuple[dict, list]:
    """n rigid requests over ``days`` days, each free to use any of ``machines`` identical
    instruments; weights in whole cents (the flow oracle scales them to integers)."""
    jobs, requests = [], []
    names = [f"em-{m}" for m in range(1, machines + 1)]
    horizon = days * 1440
    for k in range(n):
        start = rng.randrange(0, horizon - 140)
        end = min(horizon, start + rng.randrange(10, 300))
        weight = round(rng.uniform(0.5, 9.5), 2)
        jobs.append((start, end, weight))
        requests.append(
            request(
                f"r{k}",
                step(names, end - start),
                weight=weight,
                release=at(start),
                deadline=at(end),
            )
        )
    instruments = [{"id": name, "type": "em", "site": "site-a"} for name in names]
    document = base_document(
        requests=requests,
        instruments=instruments,
        operators=[],
        horizon={"start": at(0), "end": at(horizon)},
    )
    return document, jobs


@pytest.mark.parametrize(("seed", "machines"), [(0, 2), (1, 3), (2, 3), (3, 4)])
def test_weighted_interval_scheduling_on_several_instruments_matches_min_cost_flow(seed, machines):
    doc, jobs = rigid_pool_document(random.Random(300 + seed), machines, 60)
    result = solve(doc, solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    optimum = interval_scheduling_on_machines_optimum(jobs, machines)
    assert result.objective == pytest.approx(optimum)


def test_rigid_requests_stay_on_one_cp_sat_run_however_many_options(monkeypatch):
    """Only options with a choice of start count towards the large-week path, whose
    capacity bound cannot prove what the clique rows prove at once."""
    monkeypatch.setattr(model, "LARGE_INTERVALS", 0)
    doc, jobs = rigid_pool_document(random.Random(400), 3, 80)
    result = solve(doc, solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert "neighbourhoods" not in result.kpis
    assert result.objective == pytest.approx(interval_scheduling_on_machines_optimum(jobs, 3))


def test_full_precision_weights_are_still_proven_optimal():
    """Weights such as 3.7168142711 do not scale to integers exactly; the rounding error
    widens the bound, and must stay small enough that the optimum is still proven."""
    rng = random.Random(77)
    doc, jobs = rigid_document(rng, 150)
    weights = [rng.uniform(0.5, 10.0) for _ in jobs]
    for r, w in zip(doc["requests"], weights, strict=True):
        r["weight"] = w
    jobs = [(s, e, w) for (s, e, _), w in zip(jobs, weights, strict=True)]
    result = solve(doc, solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(weighted_interval_optimum(jobs), abs=1e-7)
    assert result.bound - result.objective <= 1e-6
