"""From an LP solution to a plan: keep what the LP decides, a MIP for the rest, a greedy
plan whenever a solver runs out of time.

The LP of the time-indexed model is nearly integral, so its optimum is a tight bound and
most requests come out assigned (or left unfilled) at 0/1. ``round_lp`` keeps those loans,
places the others with a small residual MIP seeded by the LP rounded greedily, and, on
models small enough, starts the whole MIP from that plan to prove optimality.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.loans.backends import Result, fractional, run_highs, solve_highs
from optimizer.loans.candidates import Candidates
from optimizer.loans.formulation import Rows, constraint_matrix, objective_coefficients

log = logging.getLogger(__name__)

# HiGHS's branch-and-bound on the whole model stalls in its root node past its time limit
# on large models, so the whole-model MIP runs only up to this size (measured on the
# western consortium example; see benchmarks/RESULTS.md).
FULL_MIP_MAX_CANDIDATES = 20_000


# A residual MIP larger than this is not worth reopening contested pools for.
RESIDUAL_MAX_CANDIDATES = 20_000


def solve_lp_guided(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
    """LP relaxation first; fix what it decides integrally; a small MIP for the rest; then,
    if time is left, the whole MIP from that plan to close the gap (``round_lp``)."""
    n = len(cands)
    cost, offset = objective_coefficients(cands)
    matrix = constraint_matrix(rows, n)
    lower, upper = np.array(rows.lower), np.array(rows.upper)
    lp = run_highs(matrix, cost, lower, upper, context, relax=True)
    if lp.x is None or lp.bound is None:
        log.info("LP relaxation did not finish; solving the MIP directly")
        result = solve_highs(cands, rows, context)
        result.method = "mip"
        if result.status in (Status.NO_SOLUTION, Status.FEASIBLE) and not len(result.selected):
            chosen = cheapest_first(cands, matrix, lower, upper)
            return Result(Status.FEASIBLE, "greedy", chosen, result.bound, result.version, "greedy")
        return result
    return round_lp(cands, matrix, lower, upper, lp.x, lp.bound + offset, context, exact=True)


def greedy_completion(
    matrix: Any,
    lower: np.ndarray,
    upper: np.ndarray,
    fixed: np.ndarray,
    order: np.ndarray,
    request: np.ndarray,
) -> np.ndarray | None:
    """The ``fixed`` loans, then the loans of ``order`` in turn while they fit.

    Needs every row to be a cap (no max_imbalance) or a frozen loan's row that the fixed
    loans meet: then the fixed loans alone fit, and a loan fits when each of its rows has
    room. None when that does not hold.
    """
    x = fixed.astype(float)
    load = matrix @ x
    # Only a frozen loan's row has a lower end above 0; the balance rows' is -max_imbalance.
    if np.any(np.isfinite(lower) & (lower <= 0)) or np.any(load > upper + 1e-9):
        return None
    if np.any(load < lower - 1e-9):
        return None
    slack = upper - load
    columns = matrix.tocsc()
    taken = np.zeros(int(request.max()) + 1 if len(request) else 0, dtype=bool)
    taken[request[fixed]] = True
    for v in order.tolist():
        if fixed[v] or taken[request[v]]:
            continue
        rows_v = columns.indices[columns.indptr[v] : columns.indptr[v + 1]]
        if np.all(slack[rows_v] >= 1 - 1e-9):
            slack[rows_v] -= 1
            x[v] = 1.0
            taken[request[v]] = True
    return x


def cheapest_first(
    cands: Candidates, matrix: Any, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """The plan of last resort when no solver finished in time: loans that beat their
    request's penalty, cheapest first, while they fit; with balance rows, no loans at all
    (zero loans satisfy every row: all caps are non-negative and the balance band holds 0).
    Frozen previous loans come first."""
    cost, _ = objective_coefficients(cands)
    request = cands.var_request()
    order = np.argsort(cost, kind="stable")
    order = order[cost[order] < 0]
    forced = cands.forced()
    x = greedy_completion(matrix, lower, upper, forced, order, request)
    return np.flatnonzero(forced) if x is None else np.flatnonzero(x > 0.5)


def lp_ranking(lp_x: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Candidate loans by LP value (cheaper first among equals), then every other loan that
    beats its penalty, cheapest first: the order of the greedy rounding."""
    positive = np.flatnonzero(lp_x > 1e-6)
    rest = np.flatnonzero((lp_x <= 1e-6) & (cost < 0))
    return np.concatenate(
        [positive[np.lexsort((cost[positive], -lp_x[positive]))], rest[np.argsort(cost[rest])]]
    )


def round_lp(
    cands: Candidates,
    matrix: Any,
    lower: np.ndarray,
    upper: np.ndarray,
    lp_x: np.ndarray,
    lp_bound: float,
    context: SolveContext,
    *,
    exact: bool,
    polish: bool = True,
) -> Result:
    """From an LP solution to a plan: keep its integral loans, a MIP for the rest, then (time
    permitting) the whole MIP from that plan. Only an ``exact`` model's MIP bound counts."""
    cost, offset = objective_coefficients(cands)
    version = highs_adapter.version()
    if fractional(lp_x) == 0:
        status = Status.OPTIMAL if exact else Status.FEASIBLE
        return Result(status, "highs", np.flatnonzero(lp_x > 0.5), lp_bound, version, "lp")
    fixed = lp_x > 1 - 1e-6
    request = cands.var_request()
    pool = cands.var_pool()
    # Reopen the loans that share a pool with an undecided request, so the MIP may
    # rearrange a whole contested pool rather than fit the rest around fixed loans.
    undecided = np.zeros(len(cands.instance.requests), dtype=bool)
    undecided[request[(lp_x > 1e-6) & ~fixed]] = True
    contested = np.zeros(len(cands.pools), dtype=bool)
    contested[pool[undecided[request]]] = True
    reopened = fixed & contested[pool]
    if np.count_nonzero(~fixed | reopened) <= RESIDUAL_MAX_CANDIDATES:
        fixed &= ~contested[pool]
    settled = np.zeros(len(cands.instance.requests), dtype=bool)
    settled[request[fixed]] = True
    free = np.flatnonzero(~settled[request])
    used = matrix[:, np.flatnonzero(fixed)].sum(axis=1).A1 if fixed.any() else 0.0
    sub = matrix[:, free]
    # The LP rounded greedily: the residual MIP's first incumbent, and the plan to keep if
    # the MIP does no better in its time, as on the largest instances (measured at 20,000
    # requests; see benchmarks/RESULTS.md).
    greedy = greedy_completion(matrix, lower, upper, fixed, lp_ranking(lp_x, cost), request)
    residual = run_highs(
        sub,
        cost[free],
        lower - used,
        upper - used,
        context,
        relax=False,
        start=None if greedy is None else greedy[free],
        time_limit=0.8 * context.remaining(),
    )
    log.info(
        "LP bound %.4f, %d fractional; residual MIP over %d candidates: %s",
        lp_bound,
        fractional(lp_x),
        len(free),
        residual.status,
    )
    if residual.x is None:
        # Out of time: the greedy rounding is a plan whenever the fixed loans fit every row
        # (always, without max_imbalance, since all other rows only cap loans).
        if greedy is not None:
            log.info("residual MIP found nothing in time; rounding the LP greedily")
            chosen = np.flatnonzero(greedy > 0.5)
            return Result(Status.FEASIBLE, "highs", chosen, lp_bound, version, "lp-greedy")
        full = run_highs(matrix, cost, lower, upper, context, relax=False)
        bound = lp_bound
        if exact and full.bound is not None:
            bound = max(bound, full.bound + offset)
        if full.x is None:
            chosen = cheapest_first(cands, matrix, lower, upper)
            return Result(Status.FEASIBLE, "greedy", chosen, lp_bound, version, "greedy")
        chosen = np.flatnonzero(full.x > 0.5)
        status = full.status if exact or full.status != Status.OPTIMAL else Status.FEASIBLE
        return Result(status, "highs", chosen, bound, version, "mip")
    x = fixed.astype(float)
    x[free] = np.round(residual.x)
    if greedy is not None and float(cost @ greedy) < float(cost @ x):
        log.info("the greedy rounding beats the residual MIP's plan")
        x = greedy
    best = x
    objective = float(cost @ x) + offset
    log.info("LP-guided plan %.4f against the LP bound %.4f", objective, lp_bound)
    bound = lp_bound
    status = Status.FEASIBLE
    if objective - bound <= max(1e-6, context.options.relative_gap * abs(objective)):
        status = Status.OPTIMAL
    elif polish and context.remaining() > 3.0 and len(cands) <= FULL_MIP_MAX_CANDIDATES:
        # HiGHS overshoots its limit on large models (presolve, the root LP): leave margin.
        budget = 0.7 * context.remaining() - 1.0
        full = run_highs(
            matrix, cost, lower, upper, context, relax=False, start=x, time_limit=budget
        )
        log.info("full MIP from the plan: %s, bound %s", full.status, full.bound)
        if exact and full.bound is not None:
            bound = max(bound, full.bound + offset)
        if full.x is not None and float(cost @ np.round(full.x)) + offset < objective:
            best = np.round(full.x)
            objective = float(cost @ best) + offset
        if exact and full.status == Status.OPTIMAL:
            status = Status.OPTIMAL
    return Result(status, "highs", np.flatnonzero(best > 0.5), bound, version, "lp+mip")
