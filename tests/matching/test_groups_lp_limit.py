"""Regression: when the master LP of column generation stopped at the time limit, its duals
(not dual feasible) still produced a 'converged' LP and a bound, so a consortium could be
reported optimal on the strength of an LP that was never solved."""

from __future__ import annotations

from optimizer.core.envelope import Options, Status
from optimizer.matching import groups as groups_module
from optimizer.matching import solve
from tests.matching.test_groups_compact import _instance


def test_an_unfinished_master_lp_proves_nothing(monkeypatch):
    real = groups_module._Master.solve_lp

    def stopped_early(self, time_limit):
        value, duals, _ = real(self, time_limit)
        return value, duals, False

    monkeypatch.setattr(groups_module._Master, "solve_lp", stopped_early)
    instance = _instance(1)
    solution = solve(instance, Options(solver="highs", time_limit_s=20, threads=1))
    assert solution.status in (Status.FEASIBLE, Status.NO_SOLUTION)
    assert solution.bound is None
