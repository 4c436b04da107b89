"""Solving a PuLP model with HiGHS or CBC, and reading the outcome honestly.

PuLP folds "stopped at the time limit with a solution" into ``Optimal`` for some solvers;
here the status comes from what the solver itself proved: HiGHS's model status and dual
bound, and CBC's solution status (a bound only when it proved optimality).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

import pulp

from optimizer.core import highs as highs_adapter
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


def _cbc_version() -> str | None:
    return f"pulp {package_version('pulp')}"


def _solve_highs(problem: pulp.LpProblem, context: SolveContext, time_limit: float) -> MipResult:
    highs_adapter.prepare_scheduler(context.threads)
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
    status = highs_adapter.highs_status(highs)
    raw: float | None = None
    if problem.isMIP():
        raw = highs_adapter.mip_dual_bound(highs)
    elif status == Status.OPTIMAL:
        raw = highs_adapter.objective_value(highs)
    # PuLP hands HiGHS a maximisation as the minimisation of the negated objective.
    sense = -1.0 if problem.sense == pulp.LpMaximize else 1.0
    bound = None if raw is None else sense * raw
    log.debug("HiGHS status %s, bound %s", status, bound)
    return MipResult(status, bound, "highs", highs_adapter.version())
