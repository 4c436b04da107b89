"""Regression: a loans solve followed by a matching solve in one process (the batch CLI with
--threads 1) gave the matching no_solution. Loans runs HiGHS with its default thread count,
which sizes HiGHS's process-wide scheduler for all cores; a later run asking for one thread
then failed outright, and prepare_highs only reset the scheduler when it had set it itself."""

from __future__ import annotations

import numpy as np
import pulp

from optimizer.core.envelope import Options, Status
from optimizer.core.mip import solve_pulp
from optimizer.core.runner import SolveContext


def _default_threads_run() -> None:
    import highspy

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.addVars(2, np.zeros(2), np.ones(2))
    assert highs.run() == highspy.HighsStatus.kOk


def _tiny_mip(threads: int) -> Status:
    problem = pulp.LpProblem("tiny", pulp.LpMaximize)
    x = pulp.LpVariable("x", cat=pulp.LpBinary)
    y = pulp.LpVariable("y", cat=pulp.LpBinary)
    problem += 2 * x + 3 * y
    problem += x + y <= 1
    result = solve_pulp(problem, "highs", SolveContext(options=Options(threads=threads)))
    return result.status


def test_a_run_with_default_threads_does_not_break_the_next_solve():
    for threads in (1, 2, 1):
        _default_threads_run()
        assert _tiny_mip(threads) == Status.OPTIMAL
