"""Regression: building formula candidates ignored the time limit, so a large instance without
a scores list ran on long past it (all n(n-1)/2 pairs are scored)."""

from __future__ import annotations

import random
import re

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.matching import MatchingInstance, solve
from optimizer.matching.scores import OutOfTime, build_candidates


def formula_instance(n: int, seed: int) -> MatchingInstance:
    rng = random.Random(seed)
    institutions = [
        {"id": f"i{k}", "strengths": {"a": rng.random(), "b": rng.random()}, "needs": {"a": 0.5}}
        for k in range(n)
    ]
    return MatchingInstance.model_validate({"kind": "matching", "institutions": institutions})


def test_candidate_building_stops_at_the_time_limit():
    instance = formula_instance(12_000, seed=5)  # scoring every pair takes minutes
    solution = solve(instance, Options(time_limit_s=0.5, threads=1))
    assert solution.status == Status.NO_SOLUTION
    assert solution.explanations[0].code == "time_limit_in_candidates"
    scored = re.search(r"the pairs of (\d+) of 12000 institutions", solution.explanations[0].detail)
    assert scored is not None and int(scored[1]) < 12_000 - 1


def test_candidate_building_asks_for_the_time_between_rows():
    """A clock that runs out on its third reading stops the build after two rounds of rows."""
    readings = iter([False, False, True])
    with pytest.raises(OutOfTime, match="the pairs of 128 of 300 institutions"):
        build_candidates(formula_instance(300, seed=5), out_of_time=lambda: next(readings))
