"""Column generation for large loans instances: the LP over every candidate loan, grown
from each request's cheapest arcs, with a proven bound at every round, then rounded to a
plan (``solve_priced``).

The restricted master lives in one HiGHS object. Loans priced in (``pricing``) are added as
columns, and the shelf rows they make necessary as rows, so each LP starts from the last
optimal basis instead of from scratch. Rows are only ever added: a shelf row that no
longer binds is still a true constraint.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.loans.backends import Result, run_highs
from optimizer.loans.candidates import Candidates
from optimizer.loans.formulation import build_rows, objective_coefficients
from optimizer.loans.pricing import add_columns, completion, price
from optimizer.loans.rounding import (
    FULL_MIP_MAX_CANDIDATES,
    cheapest_first,
    greedy_completion,
    lp_ranking,
    round_lp,
)

log = logging.getLogger(__name__)

# Column generation stops once its bound is this close to the LP, relatively.
CLOSE_ENOUGH = 1e-4


@dataclass
class MasterLP:
    status: Status
    x: np.ndarray | None
    duals: np.ndarray | None
    value: float | None
    """LP optimum, objective offset included."""


class RestrictedMaster:
    """The LP relaxation over the candidate loans currently in ``cands``."""

    def __init__(self, cands: Candidates, context: SolveContext) -> None:
        self.cands = cands
        self.rows = build_rows(cands, complete=True)
        rows = self.rows
        instance = cands.instance
        self.request_row = np.full(len(instance.requests), -1, dtype=np.int64)
        self.shelf_rows: dict[int, dict[int, int]] = defaultdict(dict)
        library = {x.id: i for i, x in enumerate(instance.libraries)}
        self.out_row: dict[int, int] = {}
        self.imbalance_row: dict[int, int] = {}
        for r, (kind, key, day) in enumerate(rows.meta):
            if kind == "request":
                self.request_row[key] = r
            elif kind == "shelf":
                self.shelf_rows[key][day] = r
            elif kind == "out":
                self.out_row[library[key]] = r
            elif kind == "imbalance":
                self.imbalance_row[library[key]] = r
        self.columns_of_pool: dict[int, list[int]] = defaultdict(list)
        for v, p in enumerate(cands.var_pool().tolist()):
            self.columns_of_pool[p].append(v)
        # The matrix as triplets, for the rounding once the LP is done.
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
            (np.full(len(idx), r, dtype=np.int64), np.asarray(idx, dtype=np.int64), coef)
            for r, (idx, coef) in enumerate(zip(rows.index, rows.coef, strict=True))
        ]
        cost, self.offset = objective_coefficients(cands)
        h = highs_adapter.new_highs(
            threads=context.threads, seed=context.options.seed, solver="simplex"
        )
        lower, upper = np.array(rows.lower), np.array(rows.upper)
        highs_adapter.pass_model(h, self.matrix(), cost, lower, upper, integer=False)
        self.highs = h

    def matrix(self) -> Any:
        from scipy.sparse import coo_matrix

        if self.entries:
            row = np.concatenate([e[0] for e in self.entries])
            col = np.concatenate([e[1] for e in self.entries])
            val = np.concatenate([e[2] for e in self.entries]).astype(float)
        else:
            row = col = np.zeros(0, dtype=np.int64)
            val = np.zeros(0)
        shape = (len(self.rows), len(self.cands))
        return coo_matrix((val, (row, col)), shape=shape).tocsr()

    def solve(self, time_limit: float) -> MasterLP:
        h = self.highs
        if not len(self.cands):  # HiGHS calls an empty model "empty", not optimal
            return MasterLP(Status.OPTIMAL, np.zeros(0), np.zeros(len(self.rows)), self.offset)
        if time_limit < 0.05:
            return MasterLP(Status.NO_SOLUTION, None, None, None)
        status = highs_adapter.run(h, time_limit, feasible_counts=False)
        if status != Status.OPTIMAL:
            return MasterLP(status, None, None, None)
        solution = h.getSolution()
        value = float(h.getInfo().objective_function_value) + self.offset
        return MasterLP(status, np.array(solution.col_value), np.array(solution.row_dual), value)

    def add(self, arc: np.ndarray, day: np.ndarray) -> None:
        """Add candidate loans as columns, with the shelf rows they make necessary."""
        cands = self.cands
        first = len(cands)
        add_columns(cands, arc, day)
        new = np.arange(first, len(cands))
        arcs = cands.arcs
        pools = arcs.pool[arc]
        ends = day + arcs.busy[arc]
        rows = self.rows

        # New shelf rows: days where the pool's candidate loans can now exceed its copies.
        new_rows: list[tuple[int, int, np.ndarray]] = []  # (pool, day, old columns in it)
        for p in np.unique(pools).tolist():
            members = np.array(self.columns_of_pool[p] + new[pools == p].tolist())
            self.columns_of_pool[p] = members.tolist()
            start = cands.var_day[members]
            end = start + arcs.busy[cands.var_arc[members]]
            pool = cands.pools[p]
            have = self.shelf_rows[p]
            for t in np.unique(start).tolist():
                if t in have:
                    continue
                covering = members[(start <= t) & (t < end)]
                if len(covering) <= pool.capacity(t):
                    continue
                have[t] = len(rows) + len(new_rows)
                new_rows.append((p, t, covering[covering < first]))
        if new_rows:
            starts = np.zeros(len(new_rows) + 1, dtype=np.int64)
            starts[1:] = np.cumsum([len(c) for _, _, c in new_rows])
            index = np.concatenate([c for _, _, c in new_rows]).astype(np.int32)
            caps = [float(cands.pools[p].capacity(t)) for p, t, _ in new_rows]
            self.highs.addRows(
                len(new_rows),
                np.full(len(new_rows), -np.inf),
                np.array(caps),
                len(index),
                starts.astype(np.int32),
                index,
                np.ones(len(index)),
            )
            for (p, t, old), cap in zip(new_rows, caps, strict=True):
                pool = cands.pools[p]
                r = len(rows)
                rows.add(
                    f"shelf[{pool.library}][{pool.title}][d{t}]",
                    old,
                    np.ones(len(old)),
                    -np.inf,
                    cap,
                    ("shelf", p, t),
                )
                self.entries.append((np.full(len(old), r, dtype=np.int64), old, np.ones(len(old))))

        # The new columns: their request row, the shelf rows of their busy days, the
        # library rows of their lender and borrower.
        col_rows: list[np.ndarray] = []
        col_vals: list[np.ndarray] = []
        request = arcs.request[arc]
        lender, borrower = arcs.lender[arc], arcs.borrower[arc]
        for j in range(len(arc)):
            mine = [int(self.request_row[request[j]])]
            vals = [1.0]
            for t, r in self.shelf_rows.get(int(pools[j]), {}).items():
                if day[j] <= t < ends[j]:
                    mine.append(r)
                    vals.append(1.0)
            if int(lender[j]) in self.out_row:
                mine.append(self.out_row[int(lender[j])])
                vals.append(1.0)
            if int(lender[j]) in self.imbalance_row:
                mine.append(self.imbalance_row[int(lender[j])])
                vals.append(1.0)
            if int(borrower[j]) in self.imbalance_row:
                mine.append(self.imbalance_row[int(borrower[j])])
                vals.append(-1.0)
            col_rows.append(np.array(mine, dtype=np.int64))
            col_vals.append(np.array(vals))
        starts = np.zeros(len(arc) + 1, dtype=np.int64)
        starts[1:] = np.cumsum([len(c) for c in col_rows])
        index = np.concatenate(col_rows)
        values = np.concatenate(col_vals)
        cost = cands.var_cost[new] - cands.penalty[request]
        self.highs.addCols(
            len(arc),
            cost.astype(float),
            np.zeros(len(arc)),
            np.ones(len(arc)),
            len(index),
            starts.astype(np.int32),
            index.astype(np.int32),
            values,
        )
        self.entries.append((index, np.repeat(new, np.diff(starts)), values))


def column_generation(
    cands: Candidates, context: SolveContext, *, keep_s: float, rounds: int = 500
) -> tuple[RestrictedMaster, MasterLP, float | None]:
    """Grow the restricted master until no candidate loan prices out, ``rounds`` pass, or
    only ``keep_s`` seconds of the time limit are left (for the rounding). Returns the
    master, its last optimal LP (zero on the columns added since) and the best Lagrangian
    bound (None if no round finished)."""
    master = RestrictedMaster(cands, context)
    best = -np.inf
    last = MasterLP(Status.NO_SOLUTION, None, None, None)
    for turn in range(rounds):
        lp = master.solve(context.remaining() - keep_s)
        if lp.x is None or lp.duals is None or lp.value is None:
            break
        last = lp
        priced = price(cands, master.rows, lp.duals)
        best = max(best, priced.bound)
        context.report(bound=best, phase="column generation")
        log.info(
            "round %d: %d candidates, LP %.2f, Lagrangian bound %.2f, %d to add, %.1fs",
            turn,
            len(cands),
            lp.value,
            priced.bound,
            len(priced),
            context.elapsed(),
        )
        # Near the end, rounds add little to the bound and re-solves slow down (measured at
        # 20,000 requests; see benchmarks/RESULTS.md); the rounding needs that time more
        # than the bound needs its last 0.01 %.
        close = lp.value - priced.bound <= max(1e-6, CLOSE_ENOUGH * abs(lp.value))
        if not len(priced) or close or context.remaining() < keep_s or context.stop.is_set():
            break
        master.add(priced.arc, priced.day)
    if last.x is not None and len(last.x) < len(cands):
        last.x = np.concatenate([last.x, np.zeros(len(cands) - len(last.x))])
    return master, last, float(best) if np.isfinite(best) else None


# Share of the time limit column generation leaves to the rounding: enough for the
# residual MIP on the largest instances (measured at 20,000 requests; see
# benchmarks/RESULTS.md).
ROUNDING_SHARE = 0.15


def solve_priced(cands: Candidates, context: SolveContext) -> Result:
    """Column generation (see ``colgen``) while time allows, then the last LP rounded to a
    plan. The bound is the best Lagrangian bound of the pricing. When the model is small
    enough, the loans that could still improve on the plan (``pricing.completion``) join
    it and a MIP over the whole closes the gap: its bound then holds for every plan."""
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
        ranked = lp_ranking(lp.x, cost)
        x = greedy_completion(matrix, lower, upper, cands.forced(), ranked, cands.var_request())
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
