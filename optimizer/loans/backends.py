"""Runs of the loans formulation on one solver each: HiGHS, CBC (through PuLP), CP-SAT.

Each takes the candidate loans and their rows and returns a :class:`Result` with an honest
status and bound; which of them runs, and on which part of the model, is decided elsewhere
(``rounding``, ``colgen``, ``model``). Solver objects come from the adapters in
``optimizer.core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.core.scaling import integer_scale
from optimizer.loans.candidates import Candidates
from optimizer.loans.formulation import Rows, constraint_matrix, objective_coefficients


@dataclass
class Result:
    status: Status
    solver: str
    selected: np.ndarray
    bound: float | None
    version: str | None
    method: str
    fractional: int = 0
    """Variables strictly between 0 and 1 (only an LP can have them)."""


# A HiGHS run with less time than this is not started.
MIN_RUN_S = 0.05


@dataclass
class HighsRun:
    status: Status
    x: np.ndarray | None
    bound: float | None
    """Dual bound of the MIP, or the LP optimum, without the objective offset."""
    duals: np.ndarray | None = None
    """Row duals of an LP solve."""


def run_highs(
    matrix: Any,
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    context: SolveContext,
    *,
    relax: bool,
    start: np.ndarray | None = None,
    time_limit: float | None = None,
) -> HighsRun:
    """One HiGHS solve of min cost.x, lower <= matrix.x <= upper, x binary (or in [0, 1])."""
    import highspy

    n = matrix.shape[1]
    if n == 0:  # nothing to decide: feasible exactly when zero fits every row
        fits = bool(np.all(lower <= 1e-9) and np.all(upper >= -1e-9))
        return HighsRun(Status.OPTIMAL if fits else Status.INFEASIBLE, np.zeros(0), 0.0)
    limit = context.remaining() if time_limit is None else min(time_limit, context.remaining())
    if limit < MIN_RUN_S:  # no time left: say so rather than overrun the limit
        return HighsRun(Status.NO_SOLUTION, None, None)
    h = highs_adapter.new_highs(
        threads=context.threads,
        seed=context.options.seed,
        mip_rel_gap=context.options.relative_gap,
        mip_abs_gap=1e-7,
    )
    if relax:
        h.setOptionValue("solver", "simplex")
    highs_adapter.pass_model(h, matrix, cost, lower, upper, integer=not relax)
    if start is not None and not relax:
        solution = highspy.HighsSolution()
        solution.col_value = start.astype(float).tolist()
        solution.value_valid = True
        h.setSolution(solution)
    out = highs_adapter.run(h, limit, feasible_counts=not relax)
    x = np.array(h.getSolution().col_value) if out in (Status.OPTIMAL, Status.FEASIBLE) else None
    bound = None
    if not relax:
        bound = highs_adapter.mip_dual_bound(h)
    elif out == Status.OPTIMAL:
        bound = highs_adapter.objective_value(h)
    duals = np.array(h.getSolution().row_dual) if relax and x is not None else None
    return HighsRun(out, x, bound, duals)


def fractional(x: np.ndarray) -> int:
    """How many of ``x`` lie strictly between 0 and 1."""
    return int(np.count_nonzero((x > 1e-6) & (x < 1 - 1e-6)))


def solve_highs(
    cands: Candidates, rows: Rows, context: SolveContext, *, relax: bool = False
) -> Result:
    """HiGHS on the whole model: the MIP, or (``relax``) the LP solved by simplex."""
    cost, offset = objective_coefficients(cands)
    run = run_highs(
        constraint_matrix(rows, len(cands)),
        cost,
        np.array(rows.lower),
        np.array(rows.upper),
        context,
        relax=relax,
    )
    bound = None if run.bound is None else run.bound + offset
    version = highs_adapter.version()
    if run.x is None:
        return Result(run.status, "highs", np.zeros(0, dtype=np.int64), bound, version, "")
    return Result(
        run.status, "highs", np.flatnonzero(run.x > 0.5), bound, version, "", fractional(run.x)
    )


def solve_cbc(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
    """CBC, through PuLP, on the whole MIP."""
    import pulp

    from optimizer.core.mip import solve_pulp

    cost, offset = objective_coefficients(cands)
    problem = pulp.LpProblem("loans", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x{v}", cat=pulp.LpBinary) for v in range(len(cands))]
    problem += pulp.lpSum(float(c) * x[v] for v, c in enumerate(cost)) + offset
    for name, idx, coef, lo, hi in zip(
        rows.names, rows.index, rows.coef, rows.lower, rows.upper, strict=True
    ):
        expr = pulp.lpSum(float(c) * x[int(v)] for v, c in zip(idx, coef, strict=True))
        safe = name.replace("[", "_").replace("]", "_").replace("-", "_").replace(":", "_")
        if np.isfinite(lo):
            problem += expr >= lo, f"{safe}_lo_{len(problem.constraints)}"
        if np.isfinite(hi):
            problem += expr <= hi, f"{safe}_hi_{len(problem.constraints)}"
    result = solve_pulp(problem, "cbc", context)
    if not result.has_solution:
        return Result(result.status, "cbc", np.zeros(0, dtype=np.int64), None, result.version, "")
    chosen = np.array([v for v in range(len(cands)) if (x[v].value() or 0) > 0.5], dtype=np.int64)
    return Result(result.status, "cbc", chosen, result.bound, result.version, "")


def solve_cp_sat(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
    """CP-SAT on the whole MIP, its costs scaled to integers; the bound is widened by what
    that rounding can move any plan's cost, and optimality claimed only when it still holds."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat

    cost, offset = objective_coefficients(cands)
    scaling = integer_scale(cost)
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{v}") for v in range(len(cands))]
    for idx, coef, lo, hi in zip(rows.index, rows.coef, rows.lower, rows.upper, strict=True):
        expr = sum(int(c) * x[int(v)] for v, c in zip(idx, coef, strict=True))
        if np.isfinite(lo):
            model.add(expr >= int(np.ceil(lo)))
        if np.isfinite(hi):
            model.add(expr <= int(np.floor(hi)))
    model.minimize(sum(int(c) * x[v] for v, c in enumerate(scaling.scaled(cost).tolist())))
    run = run_cpsat(model, context, scale=scaling.scale)
    if not run.has_solution:
        return Result(run.status, "cp-sat", np.zeros(0, dtype=np.int64), None, cpsat_version(), "")
    chosen = np.array([v for v in range(len(x)) if run.solver.boolean_value(x[v])], dtype=np.int64)
    bound = None
    if run.bound_scaled is not None:
        bound = run.bound_scaled / scaling.scale + offset - scaling.rounding_error(cost)
    status = run.status
    if status == Status.OPTIMAL and not scaling.exact:
        # Optimal for the rounded costs only: it stands if the widened bound still closes
        # the gap for the true ones.
        objective = float(cost[chosen].sum()) + offset
        gap = max(1e-6, context.options.relative_gap * abs(objective))
        if bound is None or objective - bound > gap:
            status = Status.FEASIBLE
    return Result(status, "cp-sat", chosen, bound, cpsat_version(), "")
