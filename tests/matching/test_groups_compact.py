"""The compact CP-SAT model that replaces enumeration on very large consortium instances.

It only runs in production when more than MAX_COLUMNS groups exist, far too many for a test,
so it is called directly here and held to the set-partitioning answer on small instances.
"""

from __future__ import annotations

import random

import pytest

from optimizer.core.envelope import Options, Status
from optimizer.core.runner import SolveContext
from optimizer.matching import groups as groups_module
from optimizer.matching import solve
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import build_candidates
from optimizer.matching.slots import solve_groups_compact


def _instance(seed: int) -> MatchingInstance:
    rng = random.Random(seed)
    n = rng.randint(5, 9)
    ids = [f"i{k}" for k in range(n)]
    institutions = [
        {"id": x, "hub": rng.random() < 0.4, "region": rng.choice(["cq", "sc"])} for x in ids
    ]
    scores = [
        {"a": ids[i], "b": ids[j], "score": round(rng.uniform(-0.2, 1.0), rng.choice([2, 7]))}
        for i in range(n)
        for j in range(i + 1, n)
        if rng.random() < 0.7
    ]
    return MatchingInstance.model_validate(
        {
            "kind": "matching",
            "mode": "groups",
            "institutions": institutions,
            "scores": scores,
            "rules": {"min_score": -1.0, "forbidden": [[ids[0], ids[1]]]},
            "group": {
                "min_size": 2,
                "max_size": 3,
                "min_hubs": rng.choice([0, 1]),
                "same_region": rng.random() < 0.3,
            },
        }
    )


@pytest.mark.parametrize("seed", range(8))
def test_compact_model_reaches_the_set_partitioning_optimum(seed):
    instance = _instance(seed)
    reference = solve(instance, Options(solver="highs", time_limit_s=20, threads=1))
    context = SolveContext(options=Options(time_limit_s=20, threads=1))
    result = solve_groups_compact(instance, build_candidates(instance), context)
    if reference.status == Status.INFEASIBLE:
        assert result.status == Status.INFEASIBLE
        return
    assert reference.status == Status.OPTIMAL
    assert result.status == Status.OPTIMAL
    assert result.bound == pytest.approx(reference.objective, abs=1e-6)


def test_the_solver_switches_to_the_compact_model_above_the_column_limit(monkeypatch):
    instance = _instance(3)
    monkeypatch.setattr(groups_module, "MAX_COLUMNS", 10)
    solution = solve(instance, Options(time_limit_s=20, threads=1))
    assert solution.kpis["method"] == "compact slots"
    assert solution.verification.valid
    reference = solve(instance, Options(solver="highs", time_limit_s=20, threads=1))
    assert solution.objective == pytest.approx(reference.objective, abs=1e-6)
