"""Rule 5: a changeover separates bookings of different requests, never steps of one."""

from __future__ import annotations

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.instruments import capacity
from optimizer.instruments.timeline import build_timeline
from tests.instruments.helpers import TEST_OPTIONS, at, base_document, request, step


def _one_instrument(minutes_open: int, *requests: dict) -> dict:
    return base_document(
        instruments=[
            {
                "id": "em-1",
                "type": "em",
                "site": "site-a",
                "changeover_minutes": 60,
                "availability": [{"start": at(0), "end": at(minutes_open)}],
            }
        ],
        operators=[],
        requests=list(requests),
    )


def _solve(doc: dict):
    sol = solve_document(doc, overrides=TEST_OPTIONS)
    assert sol.verification.valid
    return sol


def test_two_steps_of_one_request_run_back_to_back():
    """Regression: the model charged a changeover between two steps of one request, so two
    240-minute steps did not fit 500 open minutes (240 + 60 + 240 = 540), and no optimum
    was claimed for any instance where one request could use an instrument twice."""
    doc = _one_instrument(500, request("a", step(["em-1"], 240), step(["em-1"], 240)))
    sol = _solve(doc)
    assert sol.objective == 1
    assert str(sol.status) == "optimal"
    tl = build_timeline(parse_document(doc).instance)
    bound = capacity.lp_bound(tl, capacity.relaxation(tl, capacity.all_options(tl)))
    assert bound is not None and bound >= 1 - 1e-9


@pytest.mark.parametrize(("open_minutes", "optimum"), [(400, 3), (359, 2)])
def test_other_requests_still_keep_the_changeover(open_minutes, optimum):
    """a's two 100-minute steps back to back, 60 minutes, then b's 100: 360 minutes. With b
    between a's steps it would take 420. At 359 minutes only a (weight 2) fits."""
    doc = _one_instrument(
        open_minutes,
        request("a", step(["em-1"], 100), step(["em-1"], 100), weight=2),
        request("b", step(["em-1"], 100)),
    )
    sol = _solve(doc)
    assert sol.objective == optimum
    assert str(sol.status) == "optimal"
    assert sol.bound == pytest.approx(optimum)


def test_a_request_may_still_leave_room_between_its_steps():
    """b fits between a's steps when the gaps on both sides hold the changeover."""
    doc = _one_instrument(
        600,
        request("a", step(["em-1"], 100), step(["em-1"], 100), release=at(0)),
        request(
            "b", step(["em-1"], 100), release=at(160), deadline=at(260)
        ),  # only [160, 260): a's steps must sit at [0, 100) and [320, 420)
    )
    sol = _solve(doc)
    assert sol.objective == 2
    assert str(sol.status) == "optimal"


@pytest.mark.parametrize("seed", range(4))
def test_one_instrument_against_brute_force(seed):
    """One instrument open L minutes, requests of one or two steps on it: a set of requests
    fits exactly when its minutes plus a changeover between consecutive requests fit in L
    (each request's steps back to back). Brute force over every set gives the optimum."""
    import itertools
    import random

    rng = random.Random(seed)
    c, open_minutes = 45, 600
    reqs, shapes = [], []
    for k in range(7):
        steps = [rng.choice([40, 70, 100, 130]) for _ in range(rng.choice([1, 2, 2]))]
        weight = rng.choice([1, 2, 3])
        shapes.append((sum(steps), weight))
        reqs.append(request(f"r{k}", *(step(["em-1"], d) for d in steps), weight=weight))
    optimum = 0
    for size in range(len(shapes) + 1):
        for chosen in itertools.combinations(shapes, size):
            if sum(m for m, _ in chosen) + c * max(0, size - 1) <= open_minutes:
                optimum = max(optimum, sum(w for _, w in chosen))
    doc = _one_instrument(open_minutes, *reqs)
    doc["instruments"][0]["changeover_minutes"] = c
    sol = _solve(doc)
    assert sol.objective == optimum
    assert str(sol.status) == "optimal"
    tl = build_timeline(parse_document(doc).instance)
    bound = capacity.lp_bound(tl, capacity.relaxation(tl, capacity.all_options(tl)))
    assert bound is not None and bound >= optimum - 1e-9
