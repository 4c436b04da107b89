"""Attended steps, parallel instruments and samples that stay (contract 6.7): the optimum
against an independent time-indexed MIP, one small test per rule, and the old behaviour
as the special case."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status

from .helpers import START, at, base_document, request, solve, step, time_indexed_optimum

GRID = 30


def minute(stamp: str) -> int:
    """Minutes from the test horizon's start."""
    return (datetime.fromisoformat(stamp) - START) // timedelta(minutes=1)


def resources_document(
    rng: random.Random, n: int, grid: int = GRID, slots: int = 24
) -> dict[str, Any]:
    """``slots`` times ``grid`` minutes (by default half a day on a 30-minute grid): a
    staffed microscope whose operator has two short shifts, a parallel HPC partition
    (capacity, cores, gpus) an hour away, and requests of attended sessions, processing jobs
    and both in turn."""
    capacity = rng.choice([2, 3])
    cores = rng.choice([None, 4, 6])
    gpus = rng.choice([None, 1, 2])
    hpc: dict[str, Any] = {"id": "hpc-1", "type": "hpc", "site": "site-b", "capacity": capacity}
    if cores is not None:
        hpc["cores"] = cores
    if gpus is not None:
        hpc["gpus"] = gpus
    # Two shifts at least a slot apart: windows that touch or overlap are a case of their
    # own (the solvers join them, the verifier wants one window to hold each part).
    shifts = sorted(rng.sample(range(0, slots - 3), 4))
    doc = base_document(
        horizon={"start": at(0), "end": at(grid * slots)},
        instruments=[
            {"id": "em-1", "type": "em", "site": "site-a"},
            {"id": "em-2", "type": "em", "site": "site-a", "availability": [
                {"start": at(60), "end": at(600)}
            ]},
            hpc,
        ],
        operators=[
            {"id": "op-1", "instruments": ["em-1", "em-2"], "availability": [
                {"start": at(grid * shifts[0]), "end": at(grid * (shifts[1] + 1))},
                {"start": at(grid * (shifts[2] + 2)), "end": at(grid * (shifts[3] + 3))},
            ]},
        ],
    )  # fmt: skip

    def attended_session() -> dict[str, Any]:
        fields: dict[str, Any] = {"operator_required": True}
        units = rng.randrange(2, 10)
        if rng.random() < 0.7:
            head = rng.randrange(0, 3)
            tail = rng.randrange(0 if head else 1, 2)
            fields["attended_minutes"] = grid * head
            fields["attended_end_minutes"] = grid * (tail if head + tail <= units else 0)
        return step("em", grid * units, **fields)

    def processing(first: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if cores is not None and rng.random() < 0.7:
            fields["cores"] = rng.randrange(1, cores + 1)
        if gpus is not None and rng.random() < 0.5:
            fields["gpus"] = rng.randrange(0, gpus + 1)
        if not first and rng.random() < 0.6:
            fields["moves_sample"] = False
        return step(["hpc-1"], grid * rng.randrange(2, 12), **fields)

    requests = []
    for k in range(n):
        kind = rng.choice(["session", "job", "both"])
        steps = {
            "session": [attended_session()],
            "job": [processing(True)],
            "both": [attended_session(), processing(False)],
        }[kind]
        fields: dict[str, Any] = {"weight": rng.choice([1, 2, 3])}
        if rng.random() < 0.4:
            release = grid * rng.randrange(0, slots // 2)
            fields["release"] = at(release)
            fields["deadline"] = at(min(grid * slots, release + grid * rng.randrange(8, 20)))
        requests.append(request(f"r{k}", *steps, **fields))
    doc["requests"] = requests
    return doc


@pytest.mark.parametrize("seed", range(4))
def test_optimum_over_two_days_matches_a_time_indexed_mip(seed):
    """Two days on an hourly grid: the capacity rows over day windows come into play."""
    rng = random.Random(2900 + seed)
    doc = resources_document(rng, 10, grid=60, slots=48)
    expected = time_indexed_optimum(doc, 60)
    result = solve(doc)
    assert result.verification.valid, result.verification.violations
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_optimum_matches_a_time_indexed_mip(seed):
    rng = random.Random(1800 + seed)
    doc = resources_document(rng, 6 + seed % 3)
    expected = time_indexed_optimum(doc, GRID)
    result = solve(doc, solver="cp-sat")
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound == pytest.approx(expected, abs=1e-6)
    for solver in ("greedy", "auto"):
        other = solve(doc, solver=solver)
        assert other.verification.valid, other.verification.violations
        assert other.objective <= expected + 1e-6
        assert other.bound is None or other.bound >= expected - 1e-6


def served(doc: dict[str, Any], solver: str = "auto") -> set[str]:
    """The requests served, after checking the schedule verifies and is proven optimal
    (greedy: feasible)."""
    result = solve(doc, solver=solver)
    assert result.verification.valid, result.verification.violations
    expected = Status.FEASIBLE if solver == "greedy" else Status.OPTIMAL
    assert result.status == expected, (result.status, result.explanations)
    return {b["request"] for b in result.solution["bookings"]}


def overnight_document(minutes: int = 960, **attended: int) -> dict[str, Any]:
    """A collection of ``minutes`` from 16:00 on a microscope whose operator works 08:00-17:00."""
    shift = [{"start": at(0), "end": at(540)}, {"start": at(1440), "end": at(1980)}]
    return base_document(
        horizon={"start": at(0), "end": at(2880)},
        operators=[{"id": "op-1", "instruments": ["em-1"], "availability": shift}],
        requests=[
            request(
                "r1",
                step(["em-1"], minutes, operator_required=True, **attended),
                release=at(480),
                deadline=at(1440),
            )
        ],
    )


@pytest.mark.parametrize("solver", ["auto", "greedy"])
def test_an_attended_start_lets_a_collection_run_overnight(solver):
    assert served(overnight_document(), solver) == set()
    assert served(overnight_document(attended_minutes=60), solver) == {"r1"}
    # The operator must also be on shift for the end: 00:00 is not in a shift.
    assert served(overnight_document(attended_minutes=60, attended_end_minutes=30), solver) == set()


def test_an_attended_end_lies_in_the_next_shift():
    doc = overnight_document(1000, attended_minutes=60, attended_end_minutes=30)
    doc["requests"][0]["deadline"] = at(1980)
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    (b,) = result.solution["bookings"]
    start, end = minute(b["start"]), minute(b["end"])
    assert start + 60 <= 540  # the first hour in Monday's shift
    assert end - 30 >= 1440 and end <= 1980  # the last half hour in Tuesday's


def test_the_operator_is_free_while_a_step_runs_unattended():
    """Two four-hour sessions on two microscopes, one operator: attended for their first
    hour only, both fit in one morning; attended throughout, only one does."""

    def doc(**attended):
        return base_document(
            horizon={"start": at(0), "end": at(300)},
            requests=[
                request(f"r{k}", step([f"em-{k}"], 240, operator_required=True, **attended))
                for k in (1, 2)
            ],
        )

    assert len(served(doc())) == 1
    assert served(doc(attended_minutes=60)) == {"r1", "r2"}


def jobs_document(capacity: int, total_cores: int | None = None, **demand: int) -> dict[str, Any]:
    """Three two-hour jobs that can only run 08:00-10:00 on one HPC partition."""
    hpc: dict[str, Any] = {"id": "hpc-1", "type": "hpc", "site": "site-b", "capacity": capacity}
    if total_cores is not None:
        hpc["cores"] = total_cores
    return base_document(
        instruments=[hpc],
        operators=[],
        requests=[
            request(f"r{k}", step(["hpc-1"], 120, **demand), deadline=at(120), weight=k)
            for k in (1, 2, 3)
        ],
    )


@pytest.mark.parametrize("solver", ["auto", "cp-sat", "greedy"])
def test_a_parallel_instrument_runs_up_to_its_capacity_at_once(solver):
    assert len(served(jobs_document(1), solver)) == 1
    assert len(served(jobs_document(2), solver)) == 2
    assert len(served(jobs_document(3), solver)) == 3


@pytest.mark.parametrize("solver", ["auto", "greedy"])
def test_cores_bound_the_jobs_at_once(solver):
    assert served(jobs_document(3, 8), solver) == {"r1", "r2", "r3"}  # a core each
    assert served(jobs_document(3, 8, cores=4), solver) <= {"r1", "r2", "r3"}
    assert len(served(jobs_document(3, 8, cores=4), solver)) == 2
    assert len(served(jobs_document(3, 8, cores=5), solver)) == 1
    assert served(jobs_document(3, 8, cores=9), solver) == set()  # fits nowhere
    assert served(jobs_document(3, 8, cores=4)) == {"r2", "r3"}  # the heaviest two


def travel_document(**moves: bool) -> dict[str, Any]:
    """A microscope session at site-a, then processing at site-b an hour away; the whole
    request must end within three hours."""
    return base_document(
        requests=[
            request(
                "r1",
                step(["em-1"], 60),
                step(["nmr-1"], 120, **moves),
                deadline=at(180),
                mandatory=False,
            )
        ]
    )


@pytest.mark.parametrize("solver", ["auto", "greedy"])
def test_a_step_that_does_not_move_the_sample_owes_no_travel(solver):
    assert served(travel_document(), solver) == set()
    assert served(travel_document(moves_sample=False), solver) == {"r1"}


def test_old_documents_mean_what_they_meant():
    """Capacity 1, fully attended, moving samples: the new fields at their defaults give
    the same objective and the same bookings as the fields left out."""
    rng = random.Random(7)
    doc = resources_document(rng, 8)
    for inst in doc["instruments"]:
        for key in ("capacity", "cores", "gpus"):
            inst.pop(key, None)
    for req in doc["requests"]:
        for st in req["steps"]:
            for key in (
                "attended_minutes",
                "attended_end_minutes",
                "moves_sample",
                "cores",
                "gpus",
            ):
                st.pop(key, None)
    explicit = copy.deepcopy(doc)
    for inst in explicit["instruments"]:
        inst["capacity"] = 1
    for req in explicit["requests"]:
        for st in req["steps"]:
            st["moves_sample"] = True
            st["gpus"] = 0
    plain, spelled = solve(doc, solver="cp-sat"), solve(explicit, solver="cp-sat")
    assert plain.status == spelled.status == Status.OPTIMAL
    assert plain.objective == spelled.objective == pytest.approx(time_indexed_optimum(doc, GRID))
    assert plain.solution == spelled.solution


def test_bad_resource_fields_are_named_with_their_value():
    doc = base_document(
        instruments=[
            {"id": "em-1", "type": "em", "site": "site-a"},
            {"id": "hpc-1", "type": "hpc", "site": "site-b", "capacity": 4,
             "changeover_minutes": 15},
        ],
        requests=[
            request("r1", step(["em-1"], 60, attended_minutes=30)),
            request("r2", step(["em-1"], 60, operator_required=True, attended_end_minutes=10)),
            request("r3", step(["em-1"], 60, operator_required=True, attended_minutes=40,
                               attended_end_minutes=30)),
            request("r4", step(["em-1"], 60, operator_required=True, attended_minutes=0)),
        ],
    )  # fmt: skip
    doc["operators"][0]["instruments"] = ["em-1"]
    issues = parse_document(doc).issues
    assert sorted((i.code, i.path) for i in issues) == [
        ("attended_end_without_start", "requests[1].steps[0].attended_end_minutes"),
        ("attended_too_long", "requests[2].steps[0].attended_minutes"),
        ("attended_too_long", "requests[3].steps[0].attended_minutes"),
        ("attended_without_operator", "requests[0].steps[0].attended_minutes"),
        ("changeover_on_parallel", "instruments[1].changeover_minutes"),
    ]
    details = {i.path: i.detail for i in issues}
    assert "= 15" in details["instruments[1].changeover_minutes"]
    assert "= 40" in details["requests[2].steps[0].attended_minutes"]
    bad = base_document(instruments=[{"id": "x", "type": "t", "site": "site-a", "capacity": 0}])
    (issue,) = parse_document(bad).issues
    assert issue.path == "instruments[0].capacity"


def test_regression_presolve_owed_travel_before_a_step_that_does_not_move_the_sample():
    """Bug: the check that a mandatory request fits on its own added travel before every
    later step, so a request that fits only without it was called infeasible before solving."""
    doc = travel_document(moves_sample=False)
    doc["requests"][0]["mandatory"] = True
    assert served(doc) == {"r1"}


def test_the_capacity_bound_counts_only_time_an_unattended_run_can_reach():
    """Runs of 400 minutes that must start within Monday's only shift (their first hour
    attended) on one microscope: two fit, back to back. Minutes alone would count Monday's
    24 hours (3.6 runs); the runs can reach only 08:00 to 22:40, so the energy rows allow
    2.2; in sequence (the second starts by 16:00, the third could not) 2, which is proven."""
    from optimizer.instruments import capacity
    from optimizer.instruments.timeline import build_timeline

    doc = base_document(
        horizon={"start": at(0), "end": at(4320)},
        operators=[
            {"id": "op-1", "instruments": ["em-1"], "availability": [
                {"start": at(0), "end": at(540)}]}
        ],
        requests=[
            request(f"r{k}", step(["em-1"], 400, operator_required=True, attended_minutes=60))
            for k in range(4)
        ],
    )  # fmt: skip
    tl = build_timeline(parse_document(doc).instance)
    rel = capacity.relaxation(tl, capacity.all_options(tl))
    assert capacity.lp_bound(tl, rel) == pytest.approx(2)
    rel.sequence = []
    assert capacity.lp_bound(tl, rel) == pytest.approx(2.2)
    result = solve(doc)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.objective == result.bound == 2


def test_a_parallel_instruments_utilisation_counts_every_slot():
    result = solve(jobs_document(3))  # three two-hour jobs at once on a 24-hour partition
    assert result.kpis["utilisation"]["hpc-1"] == pytest.approx(3 * 120 / (3 * 1440), abs=1e-4)
