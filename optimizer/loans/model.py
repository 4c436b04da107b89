"""Build and solve a loans instance: candidates, the chosen backend, the solution payload.

One binary per candidate loan (request, pool, ship day). Hard rules:

* a request takes at most one loan;
* a pool never has more loans out on a day than copies on its shelf by then (checked at
  every candidate ship day, where the count can rise), less one with keep_one_on_shelf;
* a library ships at most ``max_outgoing`` loans;
* every library's loans lent and received differ by at most ``max_imbalance``.

When no copy can serve two loans in the horizon and neither shelf nor balance policy is
set, every pool's intervals overlap pairwise, its day rows are nested, and the matrix
(request rows, nested pool rows inside library rows) is totally unimodular: the problem
is an assignment and a simplex vertex of the LP is an optimal plan. That is the fast path.

Otherwise (``auto`` / ``highs``) the LP relaxation comes first: it is nearly integral, so
its value is a tight bound; the loans it takes integrally are kept and a small MIP places
the rest (``round_lp``); on models small enough the whole MIP then starts from that plan to
prove optimality. Large instances start from each request's cheapest arcs on their first
day and grow the LP by column generation until no candidate loan prices out; the bound is
the Lagrangian bound of the pricing, which at convergence is the LP over every candidate
loan on every day (``solve_priced``, ``colgen``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from optimizer.core.runner import Outcome, SolveContext
from optimizer.loans import explain
from optimizer.loans.candidates import Candidates, build_candidates, loan_entry, no_reuse
from optimizer.loans.rota import solve_rota
from optimizer.loans.schema import LoansInstance

log = logging.getLogger(__name__)

SOLVERS = ("auto", "highs", "cbc", "cp-sat", "rota")


@dataclass
class Rows:
    """The constraint matrix in row form: (name, var indices, coefficients, lower, upper)."""

    names: list[str]
    index: list[np.ndarray]
    coef: list[np.ndarray]
    lower: list[float]
    upper: list[float]
    meta: list[tuple[str, Any, int]]
    """Per row: ("request", q, 0), ("shelf", pool, day), ("out", library, 0), ("imbalance",
    library, 0); the pricing reads duals through it."""

    def add(
        self,
        name: str,
        idx: np.ndarray,
        coef: np.ndarray,
        lo: float,
        hi: float,
        meta: tuple[str, Any, int],
    ) -> None:
        self.meta.append(meta)
        self.names.append(name)
        self.index.append(idx)
        self.coef.append(coef)
        self.lower.append(lo)
        self.upper.append(hi)

    def __len__(self) -> int:
        return len(self.names)


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


def _ones(idx: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(idx, dtype=np.int64)
    return arr, np.ones(len(arr))


def request_rows(cands: Candidates, rows: Rows, *, complete: bool = False) -> None:
    """Hard: a request is filled by at most one loan. ``complete``: a row for every request,
    even one with a single candidate loan, so that loans added later find their row."""
    order = np.argsort(cands.var_request(), kind="stable")
    req = cands.var_request()[order]
    requests = cands.instance.requests
    cuts = np.flatnonzero(np.diff(req)) + 1
    members = (
        {
            q: group
            for group, q in zip(np.split(order, cuts), req[np.r_[0, cuts]].tolist(), strict=True)
        }
        if len(req)
        else {}
    )
    none = np.zeros(0, dtype=np.int64)
    for q in range(len(requests)) if complete else members:
        group = members.get(q, none)
        if complete or len(group) > 1:
            rows.add(f"one_loan[{requests[q].id}]", *_ones(group), -np.inf, 1.0, ("request", q, 0))


def pool_rows(cands: Candidates, rows: Rows) -> None:
    """Hard: loans out of a pool on each ship day never exceed the copies on its shelf."""
    var_pool = cands.var_pool()
    order = np.argsort(var_pool, kind="stable")
    cuts = np.flatnonzero(np.diff(var_pool[order])) + 1
    groups = np.split(order, cuts) if len(order) else []
    # Only pools with more candidate loans than copies at their first ship day can be full.
    first = np.full(len(cands.pools), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, var_pool, cands.var_day)
    busy = cands.arcs.busy
    for idx in groups:
        p = int(var_pool[idx[0]])
        pool = cands.pools[p]
        if len(idx) <= pool.capacity(int(first[p])):
            continue
        start = cands.var_day[idx]
        end = start + busy[cands.var_arc[idx]]
        previous: np.ndarray | None = None
        for t in np.unique(start).tolist():
            covering = idx[(start <= t) & (t < end)]
            cap = pool.capacity(t)
            if len(covering) <= cap:
                continue
            if previous is not None and np.array_equal(previous, covering):
                continue
            previous = covering
            name = f"shelf[{pool.library}][{pool.title}][d{t}]"
            rows.add(name, *_ones(covering), -np.inf, cap, ("shelf", p, t))


def library_rows(cands: Candidates, rows: Rows, *, complete: bool = False) -> None:
    """Hard: each library ships at most max_outgoing loans; |lent - received| <= max_imbalance.
    ``complete``: the rows of every library the rules name, even where they cannot bind yet."""
    instance = cands.instance
    var_lender = cands.arcs.lender[cands.var_arc]
    var_borrower = cands.arcs.borrower[cands.var_arc]
    k = instance.policies.max_imbalance
    if k is None and all(lib.max_outgoing is None for lib in instance.libraries):
        return
    for i, lib in enumerate(instance.libraries):
        out = np.flatnonzero(var_lender == i)
        if lib.max_outgoing is not None and (complete or len(out) > lib.max_outgoing):
            name = f"max_outgoing[{lib.id}]"
            rows.add(name, *_ones(out), -np.inf, lib.max_outgoing, ("out", lib.id, 0))
        if k is not None:
            inc = np.flatnonzero(var_borrower == i)
            if complete or len(out) + len(inc) > k:
                idx = np.concatenate([out, inc])
                coef = np.concatenate([np.ones(len(out)), -np.ones(len(inc))])
                rows.add(f"imbalance[{lib.id}]", idx, coef, -k, k, ("imbalance", lib.id, 0))


def build_rows(cands: Candidates, *, complete: bool = False) -> Rows:
    rows = Rows([], [], [], [], [], [])
    request_rows(cands, rows, complete=complete)
    pool_rows(cands, rows)
    library_rows(cands, rows, complete=complete)
    return rows


def objective_coefficients(cands: Candidates) -> tuple[np.ndarray, float]:
    """Soft: each loan costs shipping + weighted lateness and saves its request's penalty."""
    return cands.var_cost - cands.penalty[cands.var_request()], cands.total_penalty


def is_single_use(cands: Candidates) -> bool:
    """True when no rule couples loans in time, so the LP is an assignment (see module doc)."""
    ends = cands.var_day + cands.arcs.busy[cands.var_arc]
    return no_reuse(cands.instance, cands.var_pool(), cands.var_day, ends)


# ------------------------------------------------------------------------------ backends


def _highs_version() -> str | None:
    return highs_adapter.version()


def _matrix(rows: Rows, n: int) -> Any:
    from scipy.sparse import csr_matrix

    starts = np.zeros(len(rows) + 1, dtype=np.int64)
    if len(rows):
        starts[1:] = np.cumsum([len(i) for i in rows.index])
        index = np.concatenate(rows.index)
        value = np.concatenate(rows.coef).astype(float)
    else:
        index, value = np.zeros(0, dtype=np.int64), np.zeros(0)
    return csr_matrix((value, index, starts), shape=(len(rows), n))


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


def _fractional(x: np.ndarray) -> int:
    return int(np.count_nonzero((x > 1e-6) & (x < 1 - 1e-6)))


def solve_highs(
    cands: Candidates, rows: Rows, context: SolveContext, *, relax: bool = False
) -> Result:
    """HiGHS on the whole model: the MIP, or (``relax``) the LP solved by simplex."""
    cost, offset = objective_coefficients(cands)
    run = run_highs(
        _matrix(rows, len(cands)),
        cost,
        np.array(rows.lower),
        np.array(rows.upper),
        context,
        relax=relax,
    )
    bound = None if run.bound is None else run.bound + offset
    if run.x is None:
        return Result(run.status, "highs", np.zeros(0, dtype=np.int64), bound, _highs_version(), "")
    return Result(
        run.status,
        "highs",
        np.flatnonzero(run.x > 0.5),
        bound,
        _highs_version(),
        "",
        _fractional(run.x),
    )


def solve_lp_guided(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
    """LP relaxation first; fix what it decides integrally; a small MIP for the rest.

    The LP of the time-indexed model is nearly integral, so its optimum is a tight bound
    and most requests come out assigned (or left unfilled) at 0/1. The loans it assigns
    integrally are fixed, the remaining requests go to a MIP over the residual capacity,
    and if time is left the whole MIP starts from that plan to close the gap.
    """
    n = len(cands)
    cost, offset = objective_coefficients(cands)
    matrix = _matrix(rows, n)
    lower, upper = np.array(rows.lower), np.array(rows.upper)
    _highs_version()
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


# Measured on the western consortium (57,000 candidate loans): HiGHS's branch-and-bound
# spent over 30 s past a 13 s limit in its root node without improving plan or bound, so
# the whole-model MIP runs only on models up to this size.
FULL_MIP_MAX_CANDIDATES = 20_000


# A residual MIP larger than this is not worth reopening contested pools for.
RESIDUAL_MAX_CANDIDATES = 20_000


def _greedy_completion(
    matrix: Any,
    lower: np.ndarray,
    upper: np.ndarray,
    fixed: np.ndarray,
    order: np.ndarray,
    request: np.ndarray,
) -> np.ndarray | None:
    """The ``fixed`` loans, then the loans of ``order`` in turn while they fit.

    Needs every row to be a cap (no max_imbalance): then the fixed loans alone fit, and a
    loan fits when each of its rows has room. None when that does not hold.
    """
    x = fixed.astype(float)
    load = matrix @ x
    if np.any(np.isfinite(lower)) or np.any(load > upper + 1e-9):
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
    (zero loans satisfy every row: all caps are non-negative and the balance band holds 0)."""
    cost, _ = objective_coefficients(cands)
    request = cands.var_request()
    order = np.argsort(cost, kind="stable")
    order = order[cost[order] < 0]
    none = np.zeros(len(cands), dtype=bool)
    x = _greedy_completion(matrix, lower, upper, none, order, request)
    return np.zeros(0, dtype=np.int64) if x is None else np.flatnonzero(x > 0.5)


def _lp_ranking(lp_x: np.ndarray, cost: np.ndarray) -> np.ndarray:
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
    version = _highs_version()
    if _fractional(lp_x) == 0:
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
    # the MIP does no better in its time (measured at 20,000 requests: a residual MIP of
    # 11,000 candidates stopped at a plan 7 % above the LP, the greedy rounding at 1 %).
    greedy = _greedy_completion(matrix, lower, upper, fixed, _lp_ranking(lp_x, cost), request)
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
        _fractional(lp_x),
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


# Share of the time limit column generation leaves to the rounding (measured at 20,000
# requests: the residual MIP takes 2-5 s of a 60 s limit).
ROUNDING_SHARE = 0.15


def solve_priced(cands: Candidates, context: SolveContext) -> Result:
    """Column generation (see ``colgen``) while time allows, then the last LP rounded to a
    plan. The bound is the best Lagrangian bound of the pricing. When the model is small
    enough, the loans that could still improve on the plan (``pricing.completion``) join
    it and a MIP over the whole closes the gap: its bound then holds for every plan."""
    from optimizer.loans.colgen import column_generation
    from optimizer.loans.pricing import completion

    keep = ROUNDING_SHARE * context.options.time_limit_s
    master, lp, bound = column_generation(cands, context, keep_s=keep)
    cost, offset = objective_coefficients(cands)
    matrix = master.matrix()
    lower, upper = np.array(master.rows.lower), np.array(master.rows.upper)
    if lp.x is None:
        chosen = cheapest_first(cands, matrix, lower, upper)
        return Result(Status.FEASIBLE, "greedy", chosen, bound, None, "priced/greedy")
    if context.stop.is_set():
        # Asked to stop (a cancelled job): the LP rounded greedily, no MIP to wait for.
        none = np.zeros(len(cands), dtype=bool)
        ranked = _lp_ranking(lp.x, cost)
        x = _greedy_completion(matrix, lower, upper, none, ranked, cands.var_request())
        if x is not None:
            chosen = np.flatnonzero(x > 0.5)
            return Result(Status.FEASIBLE, "highs", chosen, bound, None, "priced/lp-greedy")
    result = round_lp(
        cands,
        matrix,
        lower,
        upper,
        lp.x,
        bound if bound is not None else -np.inf,
        context,
        exact=False,
        polish=False,
    )
    result.bound = bound
    result.method = f"priced/{result.method}"
    objective = float(cost[result.selected].sum()) + offset
    if bound is not None and objective - bound <= max(
        1e-6, context.options.relative_gap * abs(objective)
    ):
        result.status = Status.OPTIMAL
        return result
    if context.remaining() < 3.0 or len(cands) > FULL_MIP_MAX_CANDIDATES or lp.duals is None:
        return result
    room = FULL_MIP_MAX_CANDIDATES - len(cands)
    extra = completion(cands, master.rows, lp.duals, objective, limit=room)
    if extra is not None:
        master.add(*extra)
    log.info(
        "MIP over %d candidate loans (%s)",
        len(cands),
        "every loan that could improve the plan" if extra is not None else "the LP's loans",
    )
    cost, offset = objective_coefficients(cands)
    start = np.zeros(len(cands))
    start[result.selected] = 1.0
    # HiGHS overshoots its limit on large models (presolve, the root LP): leave margin.
    mip = run_highs(
        master.matrix(),
        cost,
        np.array(master.rows.lower),
        np.array(master.rows.upper),
        context,
        relax=False,
        start=start,
        time_limit=0.7 * context.remaining() - 1.0,
    )
    if mip.x is not None and float(cost @ np.round(mip.x)) + offset < objective:
        result.selected = np.flatnonzero(mip.x > 0.5)
        result.method = "priced/lp+mip"
    if extra is not None and mip.bound is not None:
        result.bound = max(bound if bound is not None else -np.inf, mip.bound + offset)
        if mip.status == Status.OPTIMAL:
            result.status = Status.OPTIMAL
    return result


def solve_cbc(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
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


CPSAT_SCALE = 1000


def solve_cp_sat(cands: Candidates, rows: Rows, context: SolveContext) -> Result:
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat

    cost, offset = objective_coefficients(cands)
    scaled = np.round(cost * CPSAT_SCALE)
    # Rounding slack: the scaled objective of any plan is within this of the true one.
    slack = float(np.abs(scaled - cost * CPSAT_SCALE).sum()) / CPSAT_SCALE
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{v}") for v in range(len(cands))]
    for idx, coef, lo, hi in zip(rows.index, rows.coef, rows.lower, rows.upper, strict=True):
        expr = sum(int(c) * x[int(v)] for v, c in zip(idx, coef, strict=True))
        if np.isfinite(lo):
            model.add(expr >= int(np.ceil(lo)))
        if np.isfinite(hi):
            model.add(expr <= int(np.floor(hi)))
    model.minimize(sum(int(c) * x[v] for v, c in enumerate(scaled.tolist())))
    run = run_cpsat(model, context, scale=CPSAT_SCALE)
    if not run.has_solution:
        return Result(run.status, "cp-sat", np.zeros(0, dtype=np.int64), None, cpsat_version(), "")
    chosen = np.array([v for v in range(len(x)) if run.solver.boolean_value(x[v])], dtype=np.int64)
    bound = None
    status = run.status
    if run.bound_scaled is not None:
        bound = run.bound_scaled / CPSAT_SCALE + offset - slack
    if slack > 1e-9 and status == Status.OPTIMAL:
        status = Status.FEASIBLE
    return Result(status, "cp-sat", chosen, bound, cpsat_version(), "")


# ------------------------------------------------------------------------------ entry point


def choose_backend(cands: Candidates, rows: Rows) -> str:
    """``auto`` for the general model.

    Measured with ``benchmarks/loans.py --sizes 300,800 --solvers auto,cp-sat,cbc
    --time-limit 30`` (2 cores): at 300 requests (11,818 candidate loans) the LP-guided
    HiGHS path proves the optimum in 2.2 s, CBC in 5.0 s, CP-SAT in 16 s; at 800 requests
    (63,103 candidates) HiGHS is within 0.05 % of its bound in 2.1 s while CP-SAT stops at
    30 s with a plan 64 % dearer and CBC finds no plan. So HiGHS always.
    """
    return "highs"


# Above this many live arcs the model starts from each request's cheapest arcs on their
# first day and column generation brings in the rest (see ``colgen``). Measured with
# benchmarks/loans.py (seeds 1 and 3): at 1,000 and 3,000 requests it ends at the same
# plan and bound as the model with every ship day, in less time; at 5,000 requests the
# full model has half a million candidate loans, and column generation closes to 0.05 %
# in 6 s. Below the threshold the full model's MIP can prove optimality outright.
RESTRICT_ABOVE_ARCS = 5_000
ARCS_PER_REQUEST = 4


def reserve_s(instance: LoansInstance) -> float:
    """Seconds kept back from the solvers for naming copies, explaining and verifying the
    plan (measured: ~3 s at 20,000 requests on a busy machine)."""
    return 0.1 + 2e-4 * len(instance.requests)


def with_reserve(context: SolveContext, instance: LoansInstance) -> SolveContext:
    """The same clock and stop flag, with the time limit shortened by ``reserve_s``."""
    limit = context.options.time_limit_s
    inner = max(0.5 * limit, limit - reserve_s(instance))
    options = context.options.model_copy(update={"time_limit_s": inner})
    return dataclasses.replace(context, options=options)


# Candidate building stops refining (dominance, ship days) past this share of the time.
BUILD_SHARE = 0.45


def solve_model(
    instance: LoansInstance, context: SolveContext, *, method: str | None = None
) -> tuple[Candidates, Result]:
    """Candidates and the chosen loans. ``method`` forces "assignment" or "general"."""
    t0 = time.perf_counter()
    context = with_reserve(context, instance)
    deadline = context.started + BUILD_SHARE * context.options.time_limit_s
    if method is None:
        cands = build_candidates(
            instance,
            max_arcs=ARCS_PER_REQUEST,
            restrict_above=RESTRICT_ABOVE_ARCS,
            deadline=deadline,
        )
    else:
        cands = build_candidates(instance, deadline=deadline)
    log.info(
        "%s: %d arcs (%d dominated, %d live), %d candidate loans in %.2fs, exact: %s",
        instance.name,
        len(cands.arcs),
        cands.dominated,
        int(cands.live.sum()),
        len(cands),
        time.perf_counter() - t0,
        cands.exact,
    )
    backend = context.options.solver
    if not len(cands):
        none = np.zeros(0, dtype=np.int64)
        return cands, Result(Status.OPTIMAL, "presolve", none, cands.total_penalty, None, "empty")
    if not cands.exact and backend in ("auto", "highs", "rota"):
        return cands, solve_priced(cands, context)
    rows = build_rows(cands)
    single = is_single_use(cands)
    if method is None:
        method = "assignment" if single and backend in ("auto", "highs") else "general"
    if method == "assignment":
        if not single:
            raise ValueError("the assignment path needs an instance where no copy is reused")
        result = solve_highs(cands, rows, context, relax=True)
        if result.status == Status.OPTIMAL and not result.fractional:
            result.method = "assignment"
            return cands, result
        log.warning("assignment LP did not give an integral plan; solving the MIP")
    if backend in ("auto", "rota"):
        backend = choose_backend(cands, rows)
    if backend == "highs":
        result = solve_lp_guided(cands, rows, context)
    elif backend == "cbc":
        result = solve_cbc(cands, rows, context)
    elif backend == "cp-sat":
        result = solve_cp_sat(cands, rows, context)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    result.method = f"general/{result.method}" if result.method else "general"
    if not cands.exact:
        # The candidate set was cut, so the solver's bound holds only for the cut model.
        result.bound = None
        if result.status == Status.OPTIMAL:
            result.status = Status.FEASIBLE
    return cands, result


def payload_from_selection(cands: Candidates, selected: np.ndarray) -> dict[str, Any]:
    """Name a copy for every chosen loan and write the solution payload."""
    instance = cands.instance
    by_pool: dict[int, list[int]] = defaultdict(list)
    for v in selected.tolist():
        by_pool[cands.arcs[int(cands.var_arc[v])].pool].append(v)
    loans: list[dict[str, Any]] = []
    for p, chosen in by_pool.items():
        pool = cands.pools[p]
        free_at = {c.id: instance.release_day(c) for c in pool.copies}
        for v in sorted(chosen, key=lambda v: (int(cands.var_day[v]), v)):
            a = cands.arcs[int(cands.var_arc[v])]
            day = int(cands.var_day[v])
            copy = next((c for c in pool.copies if free_at[c.id] <= day), None)
            if copy is None:  # the pool rows make this impossible; say so loudly if not
                raise RuntimeError(f"no free copy of {pool.title} at {pool.library} on day {day}")
            free_at[copy.id] = day + a.busy
            loans.append(
                loan_entry(instance, a.request, copy, day, a.out_days, a.back_days, a.cost)
            )
    loans.sort(key=lambda e: (e["ship"], e["lender"], e["request"]))
    filled = {e["request"] for e in loans}
    unfilled = [r.id for r in instance.requests if r.id not in filled]
    return {"loans": loans, "unfilled": unfilled}


def build_and_solve(instance: LoansInstance, context: SolveContext) -> Outcome:
    if context.options.solver == "rota":
        payload = solve_rota(instance)
        return _outcome(instance, Status.FEASIBLE, "rota", payload, None, None, context, "rota")
    cands, result = solve_model(instance, context)
    if len(result.selected):
        cost, offset = objective_coefficients(cands)
        objective = float(cost[result.selected].sum()) + offset
        context.report(objective=objective, bound=result.bound, solutions=1, phase=result.method)
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return Outcome(
            result.status, result.solver, bound=result.bound, solver_version=result.version
        )
    payload = payload_from_selection(cands, result.selected)
    return _outcome(
        instance,
        result.status,
        result.solver,
        payload,
        result.bound,
        result.version,
        context,
        result.method,
        cands,
    )


def _outcome(
    instance: LoansInstance,
    status: Status,
    solver: str,
    payload: dict[str, Any],
    bound: float | None,
    version: str | None,
    context: SolveContext,
    method: str,
    cands: Candidates | None = None,
) -> Outcome:
    explanations = explain.unfilled(instance, payload) if context.options.explain else []
    kpis = explain.kpis(instance, payload)
    kpis["method"] = method
    if cands is not None:
        kpis["candidate_loans"] = len(cands)
        kpis["candidate_days_exact"] = cands.exact
    return Outcome(
        status,
        solver,
        solution=payload,
        bound=bound,
        solver_version=version,
        explanations=explanations,
        kpis=kpis,
    )
