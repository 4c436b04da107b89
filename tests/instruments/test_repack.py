"""Re-packing a day's staffed sessions with HiGHS (optimizer.instruments.repack): every
result is checked by the verifier, never serves less, and finds the move a greedy misses."""

from __future__ import annotations

import pytest

from optimizer.core.documents import parse_document
from optimizer.instruments.generate import week_document
from optimizer.instruments.greedy import greedy
from optimizer.instruments.repack import repack_day, repack_pass
from optimizer.instruments.timeline import build_timeline, to_payload
from optimizer.instruments.verify import verify

from .helpers import at, base_document, request, step


def test_a_session_moves_so_that_a_heavier_one_fits():
    """First come, first served puts the light session at 08:00, where the heavy one must
    run; re-packing the day moves the light one to 10:00 and serves both."""
    doc = base_document(
        requests=[
            request("light", step(["em-1"], 120, operator_required=True), weight=1),
            request(
                "heavy",
                step(["em-1"], 120, operator_required=True),
                weight=3,
                release=at(0),
                deadline=at(120),
            ),
        ],
        operators=[
            {
                "id": "op-1",
                "instruments": ["em-1"],
                "availability": [{"start": at(0), "end": at(540)}],
            }
        ],
    )
    instance = parse_document(doc).instance
    tl = build_timeline(instance)
    first = greedy(tl)
    assert first.served == [0]  # the heavy session finds its slot taken
    got = repack_day(
        tl, first.bookings, set(first.served), 0, weight=[1, 3], time_limit=5, threads=1, seed=0
    )
    assert got is not None
    placed, served = got
    assert served == {0, 1}
    result = verify(instance, to_payload(tl, placed))
    assert result.valid, result.violations
    assert result.objective == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pass_over_a_generated_week_verifies_and_serves_more(seed):
    """From first come, first served on a busy week (300 requests on 12 instruments), one
    pass moves sessions and serves more (by 25 to 41 on these seeds)."""
    doc = week_document(300, 12, 8, seed=seed)
    instance = parse_document(doc).instance
    tl = build_timeline(instance)
    first = greedy(tl)
    weight = [round(r.weight) for r in tl.requests]
    placed, served = repack_pass(
        tl, first.bookings, set(first.served), weight=weight,
        time_left=lambda: 30.0, threads=1, seed=0,
    )  # fmt: skip
    result = verify(instance, to_payload(tl, placed))
    assert result.valid, result.violations
    assert {p.request for p in placed} == served
    assert sum(weight[r] for r in served) > sum(weight[r] for r in first.served)
