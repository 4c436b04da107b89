"""Regression: building formula candidates ignored the time limit, so a large instance without
a scores list ran on long past it (all n(n-1)/2 pairs are scored)."""

from __future__ import annotations

import random
import time

from optimizer.core.envelope import Options, Status
from optimizer.matching import MatchingInstance, solve


def test_candidate_building_stops_at_the_time_limit():
    rng = random.Random(5)
    institutions = [
        {"id": f"i{k}", "strengths": {"a": rng.random(), "b": rng.random()}, "needs": {"a": 0.5}}
        for k in range(12_000)
    ]
    instance = MatchingInstance.model_validate({"kind": "matching", "institutions": institutions})
    started = time.perf_counter()
    solution = solve(instance, Options(time_limit_s=0.5, threads=1))
    assert time.perf_counter() - started < 20  # scoring every pair takes minutes
    assert solution.status == Status.NO_SOLUTION
    assert solution.explanations[0].code == "time_limit_in_candidates"
