"""Solving a PuLP model with HiGHS or CBC, and reading the outcome honestly.

PuLP folds "stopped at the time limit with a solution" into ``Optimal`` for some solvers;
here the status comes from what the solver itself proved: HiGHS's model status and dual
bound, and CBC's solution status (a bound only when it proved optimality).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pulp

from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext

log = logging.getLogger(__name__)


@dataclass
class MipResult:
    status: Status
    bound: float | None
    solver: str
    version: str | None

    @property
    def has_solution(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def solve_pulp(
    problem: pulp.LpProblem,
    backend: str,
    context: SolveContext,
    *,
    time_limit: float | None = None,
) -> MipResult:
    """Solve ``problem`` with ``backend`` ("highs" or "cbc") within the context's limits.

    No MIP start is passed: the bundled CBC 2.10.3 can take one, fix its non-zero
    variables, and then report that restricted answer as "Optimal" for the whole problem
    (seen on a 159-column groups master: -2871.7 reported optimal, 76.9 reachable), and
    PuLP's HiGHS interface cannot take one.
    """
    options = context.options
    time_limit = max(0.01, context.remaining() if time_limit is None else time_limit)
    if backend == "highs":
        return _solve_highs(problem, context, time_limit)
    if backend == "cbc":
        solver = pulp.PULP_CBC_CMD(
            msg=False,
            timeLimit=time_limit,
            gapRel=options.relative_gap,
            gapAbs=1e-7,
            # No -threads: the bundled CBC 2.10.3 deadlocks now and then in its threaded
            # search (even with -threads 1: "Thread 0 used 0 times, waiting to start"), sits
            # out the whole time limit and reports a tiny model as merely feasible. Measured
            # on a 7-institution pairing: 1 run in 50-300 with threads, 0 in 1,000 without.
            threads=None,
            warmStart=False,
            options=[f"randomCbcSeed {options.seed % 2**31 + 1}"],
        )
        problem.solve(solver)
        if problem.sol_status == pulp.LpSolutionOptimal:
            status = Status.OPTIMAL
        elif problem.sol_status == pulp.LpSolutionIntegerFeasible:
            status = Status.FEASIBLE
        elif problem.status == pulp.LpStatusInfeasible:
            status = Status.INFEASIBLE
        else:
            status = Status.NO_SOLUTION
        bound = pulp.value(problem.objective) if status == Status.OPTIMAL else None
        return MipResult(status, bound, "cbc", _cbc_version())
    raise ValueError(f"unknown MIP backend {backend!r}")


_banner_silenced = False
_scheduler_threads: int | None = None


def prepare_highs(threads: int) -> None:
    """Call before creating a HiGHS solver object that will run with ``threads`` threads.

    HiGHS sizes one process-wide thread scheduler on first use, and a later run asking for
    another thread count fails outright (status kError, nothing solved). Reset the scheduler
    whenever the count changes, so solves with different options can share a process.
    """
    global _scheduler_threads
    import highspy

    silence_highs_banner()
    # Reset on the first call too: code that runs HiGHS with its default thread count (as
    # loans does) sizes the scheduler for all cores before we ever get here.
    if _scheduler_threads != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads


def silence_highs_banner() -> None:
    """HiGHS prints a copyright banner on stdout when the first solver object is created.

    Our stdout carries the CLI's output (and may carry JSON), so create that first object
    with file descriptor 1 pointed at /dev/null; later objects print nothing.
    """
    global _banner_silenced
    if _banner_silenced:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_silenced = True


def maximise_binary(
    highs: Any,
    objective: Sequence[float],
    column_bounds: tuple[Sequence[float], Sequence[float]],
    rows: Sequence[tuple[Sequence[int], Sequence[float], float, float]],
) -> None:
    """Hand HiGHS "maximise objective · x over binary x within ``column_bounds``, with
    lower ≤ Σ coefficient · x[column] ≤ upper per row (columns, coefficients, lower,
    upper)", as its row-wise sparse matrix."""
    import numpy as np

    starts: list[int] = [0]
    index: list[int] = []
    value: list[float] = []
    for columns, coefficients, _, _ in rows:
        index += columns
        value += coefficients
        starts.append(len(index))
    n = len(objective)
    highs.passModel(
        n,
        len(rows),
        len(index),
        2,  # row-wise matrix
        -1,  # maximise
        0.0,
        np.array(objective, dtype=np.float64),
        np.array(column_bounds[0], dtype=np.float64),
        np.array(column_bounds[1], dtype=np.float64),
        np.array([row[2] for row in rows], dtype=float),
        np.array([row[3] for row in rows], dtype=float),
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=float),
        np.ones(n, dtype=np.int32),
    )


def highs_status(highs: Any, *, feasible_counts: bool = True) -> Status:
    """Our status for a finished HiGHS run: what HiGHS proved, not what a wrapper says.

    With ``feasible_counts`` false (an LP stopped early), a primal point is no solution.
    """
    import highspy

    model_status = highs.getModelStatus()
    if model_status == highspy.HighsModelStatus.kOptimal:
        return Status.OPTIMAL
    if model_status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return Status.INFEASIBLE
    has_primal = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    return Status.FEASIBLE if has_primal and feasible_counts else Status.NO_SOLUTION


def _cbc_version() -> str | None:
    return f"pulp {package_version('pulp')}"


def _solve_highs(problem: pulp.LpProblem, context: SolveContext, time_limit: float) -> MipResult:

    prepare_highs(context.threads)
    options = context.options
    solver = pulp.HiGHS(
        msg=False,
        timeLimit=time_limit,
        gapRel=options.relative_gap,
        threads=context.threads,
        random_seed=options.seed % 2**31,
        mip_abs_gap=1e-7,
    )
    problem.solve(solver)
    highs = problem.solverModel
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    status = highs_status(highs)
    bound: float | None = None
    # PuLP hands HiGHS a maximisation as the minimisation of the negated objective.
    sense = -1.0 if problem.sense == pulp.LpMaximize else 1.0
    if problem.isMIP():
        raw = info.mip_dual_bound
        bound = sense * float(raw) if raw is not None and abs(raw) < 1e30 else None
    elif status == Status.OPTIMAL:
        bound = sense * float(info.objective_function_value)
    log.debug("HiGHS status %s, bound %s", highs.modelStatusToString(model_status), bound)
    return MipResult(status, bound, "highs", package_version("highspy"))
