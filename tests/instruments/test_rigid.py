"""Rigid requests (no choice of start) go to HiGHS on a clique MIP under ``solver: auto``.

Oracles: brute force over every assignment on tiny instances, and the CP-SAT model of the
same instance (a different formulation: no-overlap constraints over intervals) on larger
ones, where both must prove the same optimum.
"""

from __future__ import annotations

import itertools
import random
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from optimizer.instruments import capacity

from .helpers import TEST_OPTIONS, at, base_document, request, step

NAMES = ["em-1", "em-2", "em-3"]


def mixed_document(
    rng: random.Random, n: int, *, hours: int = 24, changeover: int = 0, quota: int | None = None
) -> tuple[dict, list[tuple[int, int, float, list[str], str]]]:
    """n rigid requests, each eligible for one, two or all three instruments."""
    jobs, requests = [], []
    for k in range(n):
        start = rng.randrange(0, hours * 60 - 20)
        end = min(hours * 60, start + rng.randrange(10, 240))
        weight = rng.choice([1.0, 1.5, 2.0, 3.25, 5.0])
        eligible = sorted(rng.choice([[rng.choice(NAMES)], rng.sample(NAMES, 2), NAMES]))
        institution = rng.choice(["scu", "cqu"])
        jobs.append((start, end, weight, eligible, institution))
        requests.append(
            request(
                f"r{k}",
                step(eligible, end - start),
                weight=weight,
                release=at(start),
                deadline=at(end),
                institution=institution,
            )
        )
    instruments = [
        {"id": name, "type": "em", "site": "site-a", "changeover_minutes": changeover}
        for name in NAMES
    ]
    doc = base_document(
        requests=requests,
        instruments=instruments,
        operators=[],
        horizon={"start": at(0), "end": at(hours * 60)},
    )
    if quota is not None:
        doc["quotas"] = [{"institution": "scu", "instrument_type": "em", "max_minutes": quota}]
    return doc, jobs


def brute_force(
    jobs, changeover: int = 0, quota: int | None = None, must: list[int] | None = None
) -> float | None:
    """Every choice of instrument or none per request; the best that breaks no rule (None
    if no choice serves every request in ``must``)."""
    best: float | None = None
    for choice in itertools.product(*[[None, *eligible] for _, _, _, eligible, _ in jobs]):
        if any(choice[k] is None for k in must or []):
            continue
        booked: dict[str, list[tuple[int, int]]] = {}
        minutes = 0
        for (start, end, _, _, institution), where in zip(jobs, choice, strict=True):
            if where is not None:
                booked.setdefault(where, []).append((start, end))
                minutes += (end - start) if institution == "scu" else 0
        if quota is not None and minutes > quota:
            continue
        if all(
            a_end + changeover <= b_start
            for row in booked.values()
            for (_, a_end), (b_start, _) in itertools.pairwise(sorted(row))
        ):
            value = sum(j[2] for j, where in zip(jobs, choice, strict=True) if where is not None)
            best = value if best is None else max(best, value)
    return best


def no_lp(tl, rel, time_limit=None):
    """Stands in for capacity.lp_solution: the LP never settles anything first."""
    return None


@pytest.mark.parametrize("mip_only", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_tiny_rigid_instances_match_brute_force(seed, mip_only, monkeypatch):
    """With ``mip_only`` the capacity LP is out of the way (it can prove a warm start
    optimal on its own, and does on some of these), so HiGHS's MIP gives the answer."""
    if mip_only:
        monkeypatch.setattr(capacity, "lp_solution", no_lp)
    rng = random.Random(seed)
    changeover = [0, 15, 30, 0][seed]
    quota = [None, None, 300, 200][seed]
    doc, jobs = mixed_document(rng, 8, hours=6, changeover=changeover, quota=quota)
    result = solve_document(doc, overrides=TEST_OPTIONS)
    assert result.status == Status.OPTIMAL
    if mip_only:
        assert result.run.solver == "highs"
    assert result.verification.valid, result.verification.violations
    assert result.objective == pytest.approx(brute_force(jobs, changeover, quota))


@pytest.mark.parametrize("seed", range(3))
def test_rigid_mip_and_the_cp_sat_model_prove_the_same_optimum(seed):
    rng = random.Random(40 + seed)
    doc, _ = mixed_document(rng, 80, changeover=[0, 20, 10][seed], quota=[None, 2000, 3000][seed])
    doc["requests"][3]["mandatory"] = True
    auto = solve_document(doc, overrides=TEST_OPTIONS)
    model = solve_document(doc, overrides={**TEST_OPTIONS, "solver": "cp-sat"})
    assert auto.status == model.status == Status.OPTIMAL
    assert auto.verification.valid, auto.verification.violations
    assert auto.objective == pytest.approx(model.objective)
    assert auto.bound == pytest.approx(auto.objective)


@pytest.mark.slow
def test_thousands_of_rigid_requests_with_mixed_eligibility_are_proven_optimal():
    """Regression: 3,000 such requests ended `feasible` at a 5.7 % gap after 60 s of CP-SAT."""
    doc, _ = mixed_document(random.Random(7), 3000, hours=7 * 24)
    result = solve_document(doc, overrides={"time_limit_s": 20, "threads": 1})
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.bound == pytest.approx(result.objective)


def test_a_mandatory_request_that_cannot_fit_is_still_reported_infeasible():
    doc = base_document(
        requests=[
            request("a", step(["em-1"], 120), release=at(0), deadline=at(120), mandatory=True),
            request("b", step(["em-1"], 120), release=at(60), deadline=at(180), mandatory=True),
        ],
        operators=[],
    )
    result = solve_document(doc, overrides=TEST_OPTIONS)
    assert result.status == Status.INFEASIBLE
    assert {(e.subject, e.code) for e in result.explanations} == {
        ("a", "conflicting_mandatory"),
        ("b", "conflicting_mandatory"),
    }


def assert_matches(doc: dict, best: float | None, *, mip_only: bool) -> None:
    """The solve is infeasible exactly when ``best`` is None, else proves ``best``. With
    ``mip_only`` the capacity LP cannot settle the instance first, so HiGHS's MIP does."""
    quiet = no_lp if mip_only else capacity.lp_solution
    with patch.object(capacity, "lp_solution", quiet):
        result = solve_document(doc, overrides=TEST_OPTIONS)
    if best is None:
        assert result.status == Status.INFEASIBLE
    else:
        assert result.status == Status.OPTIMAL
        assert result.verification.valid, result.verification.violations
        assert result.objective == pytest.approx(best)


@st.composite
def rigid_documents(draw):
    """Up to seven rigid requests on three instruments: eligibility, changeover, quota and
    mandatory requests drawn; the jobs as brute_force reads them."""
    changeover = draw(st.sampled_from([0, 0, 10, 45]))
    quota = draw(st.sampled_from([None, None, 150, 400]))
    jobs, requests = [], []
    for k in range(draw(st.integers(1, 7))):
        start = draw(st.integers(0, 400))
        end = start + draw(st.integers(10, 200))
        weight = draw(st.sampled_from([0.5, 1.0, 2.0, 3.7]))
        eligible = sorted(draw(st.sets(st.sampled_from(NAMES), min_size=1)))
        institution = draw(st.sampled_from(["scu", "cqu"]))
        mandatory = draw(st.integers(0, 5)) == 0
        jobs.append((start, end, weight, eligible, institution, mandatory))
        requests.append(
            request(
                f"r{k}",
                step(eligible, end - start),
                weight=weight,
                release=at(start),
                deadline=at(end),
                institution=institution,
                mandatory=mandatory,
            )
        )
    doc = base_document(
        requests=requests,
        instruments=[
            {"id": n, "type": "em", "site": "site-a", "changeover_minutes": changeover}
            for n in NAMES
        ],
        operators=[],
    )
    if quota is not None:
        doc["quotas"] = [{"institution": "scu", "instrument_type": "em", "max_minutes": quota}]
    return doc, jobs, changeover, quota


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(rigid_documents(), st.booleans())
def test_any_rigid_instance_matches_brute_force_or_is_infeasible(case, mip_only):
    """Mandatory requests included: infeasible exactly when no assignment serves them all."""
    doc, jobs, changeover, quota = case
    must = [k for k, job in enumerate(jobs) if job[5]]
    best = brute_force([job[:5] for job in jobs], changeover, quota, must=must)
    assert_matches(doc, best, mip_only=mip_only)


@st.composite
def staffed_rigid_documents(draw):
    """Up to five rigid requests, some needing an operator; two operators with drawn
    qualifications and shifts; the jobs and operators as brute_force_staffed reads them."""
    operators = {}
    for name in ("op-a", "op-b"):
        skills = sorted(draw(st.sets(st.sampled_from(NAMES), min_size=1)))
        begin = draw(st.integers(0, 200))
        operators[name] = (skills, begin, begin + draw(st.integers(120, 480)))
    jobs, requests = [], []
    for k in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, 400))
        end = start + draw(st.integers(10, 200))
        weight = draw(st.sampled_from([0.5, 1.0, 2.0, 3.7]))
        eligible = sorted(draw(st.sets(st.sampled_from(NAMES), min_size=1)))
        staffed = draw(st.booleans())
        mandatory = draw(st.integers(0, 5)) == 0
        jobs.append((start, end, weight, eligible, staffed, mandatory))
        requests.append(
            request(
                f"r{k}",
                step(eligible, end - start, operator_required=staffed),
                weight=weight,
                release=at(start),
                deadline=at(end),
                mandatory=mandatory,
            )
        )
    doc = base_document(
        requests=requests,
        instruments=[{"id": n, "type": "em", "site": "site-a"} for n in NAMES],
        operators=[
            {"id": name, "instruments": skills, "availability": [{"start": at(a), "end": at(b)}]}
            for name, (skills, a, b) in operators.items()
        ],
    )
    return doc, jobs, operators


def brute_force_staffed(jobs, operators) -> float | None:
    """Every choice of (instrument, operator) or none per request; the best that breaks no
    rule (None if no choice serves every mandatory request)."""
    choices = []
    for start, end, _, eligible, staffed, mandatory in jobs:
        own = [(i, None) for i in eligible]
        if staffed:
            own = [
                (i, name)
                for i in eligible
                for name, (skills, a, b) in operators.items()
                if i in skills and a <= start and end <= b
            ]
        choices.append(own if mandatory else [None, *own])
    best: float | None = None
    for choice in itertools.product(*choices):
        busy: dict[str | None, list[tuple[int, int]]] = {}
        for (start, end, *_), pick in zip(jobs, choice, strict=True):
            if pick is not None:
                instrument, operator = pick
                busy.setdefault(instrument, []).append((start, end))
                if operator is not None:
                    busy.setdefault(operator, []).append((start, end))
        if all(
            a_end <= b_start
            for row in busy.values()
            for (_, a_end), (b_start, _) in itertools.pairwise(sorted(row))
        ):
            value = sum(j[2] for j, pick in zip(jobs, choice, strict=True) if pick is not None)
            best = value if best is None else max(best, value)
    return best


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(staffed_rigid_documents(), st.booleans())
def test_any_staffed_rigid_instance_matches_brute_force_or_is_infeasible(case, mip_only):
    doc, jobs, operators = case
    best = brute_force_staffed(jobs, operators)
    assert_matches(doc, best, mip_only=mip_only)


@pytest.mark.slow
def test_thousands_of_staffed_rigid_requests_are_proven_optimal():
    """Regression: 3,000 rigid requests, 60 % needing one of four operators on day or late
    shifts, ended `feasible` at a 7.1 % gap after 60 s of CP-SAT."""
    rng = random.Random(11)
    doc, _ = mixed_document(rng, 3000, hours=7 * 24)
    for req in doc["requests"]:
        req["steps"][0]["operator_required"] = rng.random() < 0.6
    doc["operators"] = [
        {
            "id": f"op-{k}",
            "instruments": sorted(rng.sample(NAMES, 2)),
            "availability": [
                {"start": at(d * 1440 + 240 * (k % 2)), "end": at(d * 1440 + 540 + 240 * (k % 2))}
                for d in range(7)
            ],
        }
        for k in range(4)
    ]
    result = solve_document(doc, overrides={"time_limit_s": 20, "threads": 1})
    assert result.status == Status.OPTIMAL
    assert result.verification.valid, result.verification.violations
    assert result.bound == pytest.approx(result.objective)
    assert result.run.solver == "highs"


def test_when_highs_finds_no_schedule_the_warm_start_stands_with_its_bound(monkeypatch):
    """A MIP too large for the time left: the answer is the best greedy order, `feasible`,
    and carries the tighter of the LP's bound and HiGHS's."""
    from optimizer.instruments import rigid

    doc, _ = mixed_document(random.Random(3), 60)
    exact = solve_document(doc, overrides=TEST_OPTIONS)
    assert exact.status == Status.OPTIMAL
    monkeypatch.setattr(capacity, "lp_solution", no_lp)
    proven = exact.objective + 0.5  # as if HiGHS had proved no more than this
    monkeypatch.setattr(
        rigid, "solve", lambda *a, **k: rigid.RigidResult(Status.NO_SOLUTION, None, proven)
    )
    result = solve_document(doc, overrides=TEST_OPTIONS)
    assert result.status == Status.FEASIBLE
    assert result.verification.valid, result.verification.violations
    assert result.objective <= exact.objective
    assert result.bound == pytest.approx(proven)
    assert result.run.solver == "highs"
    assert "greedy" in result.kpis["note"]


def test_progress_shows_the_warm_start_and_bound_before_highs_runs(monkeypatch):
    monkeypatch.setattr(capacity, "lp_solution", no_lp)
    doc, _ = mixed_document(random.Random(5), 40)
    updates = []
    result = solve_document(doc, overrides=TEST_OPTIONS, progress=updates.append)
    assert result.status == Status.OPTIMAL and result.run.solver == "highs"
    highs = [u for u in updates if u.phase == "highs"]
    assert len(highs) == 1
    assert highs[0].objective is not None and highs[0].objective <= result.objective


@st.composite
def workflow_documents(draw):
    """Up to four rigid requests of one or two steps back to back, on instruments at two
    sites an hour apart, some staffed; the jobs as brute_force_workflows reads them."""
    changeover = draw(st.sampled_from([0, 0, 20]))
    skills = sorted(draw(st.sets(st.sampled_from([*NAMES, "nmr-1"]), min_size=1)))
    shift = draw(st.integers(0, 200))
    shift = (shift, shift + draw(st.integers(120, 600)))
    jobs, requests = [], []
    for k in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, 300))
        steps, t = [], start
        for _ in range(draw(st.integers(1, 2))):
            minutes = draw(st.integers(10, 150))
            eligible = sorted(draw(st.sets(st.sampled_from([*NAMES, "nmr-1"]), min_size=1)))
            staffed = draw(st.integers(0, 3)) == 0
            steps.append((t, t + minutes, eligible, staffed))
            t += minutes
        weight = draw(st.sampled_from([0.5, 1.0, 2.0, 3.7]))
        mandatory = draw(st.integers(0, 5)) == 0
        jobs.append((steps, weight, mandatory))
        requests.append(
            request(
                f"r{k}",
                *[step(e, b - a, operator_required=st_) for a, b, e, st_ in steps],
                weight=weight,
                release=at(start),
                deadline=at(t),
                mandatory=mandatory,
            )
        )
    instruments = [
        {"id": n, "type": "em", "site": "site-a", "changeover_minutes": changeover} for n in NAMES
    ] + [{"id": "nmr-1", "type": "nmr", "site": "site-b", "changeover_minutes": changeover}]
    doc = base_document(
        requests=requests,
        instruments=instruments,
        operators=[
            {
                "id": "op-1",
                "instruments": skills,
                "availability": [{"start": at(shift[0]), "end": at(shift[1])}],
            }
        ],
    )
    return doc, jobs, changeover, skills, shift


def brute_force_workflows(jobs, changeover, skills, shift) -> float | None:
    """Every way to book each request's steps (or not at all) under the contract's rules:
    changeovers only between different requests, travel (60 min between the sites) between
    steps, one operator for staffed steps. None if no way serves every mandatory request."""
    site = {n: "a" for n in NAMES} | {"nmr-1": "b"}

    def ways(steps):
        per_step = []
        for a, b, eligible, staffed in steps:
            own = [(i, staffed) for i in eligible]
            if staffed:
                own = [
                    (i, True) for i in eligible if i in skills and shift[0] <= a and b <= shift[1]
                ]
            per_step.append(own)
        for combo in itertools.product(*per_step):
            travel = [60 if site[x[0]] != site[y[0]] else 0 for x, y in itertools.pairwise(combo)]
            if all(
                before[1] + minutes <= after[0]
                for (before, after), minutes in zip(itertools.pairwise(steps), travel, strict=True)
            ):
                yield combo

    choices = [list(ways(steps)) + ([] if mandatory else [None]) for steps, _, mandatory in jobs]
    best: float | None = None
    for choice in itertools.product(*choices):
        on: dict[str, list[tuple[int, int, int]]] = {}
        staffed_times = []
        for r, ((steps, _, _), combo) in enumerate(zip(jobs, choice, strict=True)):
            if combo is None:
                continue
            for (a, b, _, _), (i, staffed) in zip(steps, combo, strict=True):
                on.setdefault(i, []).append((a, b, r))
                if staffed:
                    staffed_times.append((a, b))
        ok = all(
            (x_end + (changeover if x_r != y_r else 0)) <= y_start
            for row in on.values()
            for (_, x_end, x_r), (y_start, _, y_r) in itertools.pairwise(sorted(row))
        ) and all(
            x_end <= y_start
            for (_, x_end), (y_start, _) in itertools.pairwise(sorted(staffed_times))
        )
        if ok:
            value = sum(
                job[1] for job, combo in zip(jobs, choice, strict=True) if combo is not None
            )
            best = value if best is None else max(best, value)
    return best


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(workflow_documents(), st.booleans())
def test_any_rigid_workflow_instance_matches_brute_force_or_is_infeasible(case, mip_only):
    doc, jobs, changeover, skills, shift = case
    best = brute_force_workflows(jobs, changeover, skills, shift)
    assert_matches(doc, best, mip_only=mip_only)


def test_steps_of_one_request_back_to_back_owe_no_changeover(monkeypatch):
    """Two steps of one request on one instrument with a changeover, back to back: allowed
    (the changeover is owed between different requests only), so the request is served.
    Clique rows would charge the changeover; such requests are left to the CP-SAT model."""
    monkeypatch.setattr(capacity, "lp_solution", no_lp)
    doc = base_document(
        requests=[
            request("r", step(["em-1"], 60), step(["em-1"], 60), release=at(0), deadline=at(120))
        ],
        instruments=[{"id": "em-1", "type": "em", "site": "site-a", "changeover_minutes": 30}],
        operators=[],
    )
    result = solve_document(doc, overrides=TEST_OPTIONS)
    assert result.status == Status.OPTIMAL
    assert result.objective == 1.0
