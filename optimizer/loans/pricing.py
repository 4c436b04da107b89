"""Pricing: a proven bound, and the missing candidates worth adding, when the model holds
only part of the candidate loans (large instances start from each request's cheapest arcs
on their first day).

Take the LP duals ``y`` of the shelf, max_outgoing and balance rows, keep "one loan per
request" as it is, and relax the rest: every plan over *all* candidate loans, on every day
from an arc's earliest to its last useful one, costs at least

    offset + sum_r y_r * b_r + sum_q min(0, min over the request's loans of rc(loan))

with rc the loan's cost less its request's penalty less the duals of the rows it would sit
in. That is a Lagrangian bound, valid for any ``y`` of the right signs (rows the model does
not have yet count with ``y = 0``). Along an arc, the lateness only grows with the ship day
and the shelf duals (never positive) only change when a dual-carrying day enters or leaves
the loan's busy window, so the minimum is on the arc's earliest day or the day after a
shelf row with a nonzero dual: only those are priced, all arcs at once in numpy.

The same reduced costs, less the request row's dual, are the LP's: loans with a negative
one are the columns to add. When there are none, the restricted LP is the LP over every
candidate loan and the Lagrangian bound equals it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.loans.candidates import Candidates, _segments

EPS = 1e-7


@dataclass
class Pricing:
    bound: float
    arc: np.ndarray
    day: np.ndarray
    """Candidate loans (arc, ship day) not in the model whose LP reduced cost is negative:
    the ``per_request`` best of each request."""

    def __len__(self) -> int:
        return len(self.arc)


def price(cands: Candidates, rows: Any, duals: np.ndarray, *, per_request: int = 4) -> Pricing:
    instance = cands.instance
    arcs = cands.arcs
    kind = np.array([m[0] for m in rows.meta], dtype=object)
    key = [m[1] for m in rows.meta]
    lower, upper = np.asarray(rows.lower, dtype=float), np.asarray(rows.upper, dtype=float)
    y = np.asarray(duals, dtype=float).copy()
    one_sided = ~np.isfinite(lower)
    y[one_sided] = np.minimum(y[one_sided], 0.0)
    is_request = kind == "request"
    # The request rows stay as constraints; their duals only enter the LP reduced cost.
    y_request = np.zeros(len(instance.requests))
    request_rows = np.flatnonzero(is_request)
    y_request[[key[r] for r in request_rows]] = np.minimum(y[request_rows], 0.0)
    y[is_request] = 0.0
    const = float(np.sum(np.where(y < 0, y * np.where(np.isfinite(upper), upper, 0.0), 0.0)))
    const += float(np.sum(np.where(y > 0, y * np.where(np.isfinite(lower), lower, 0.0), 0.0)))

    library_index = {x.id: i for i, x in enumerate(instance.libraries)}
    y_out = np.zeros(len(library_index))
    y_imbalance = np.zeros(len(library_index))
    for r in np.flatnonzero((kind == "out") & (y != 0)).tolist():
        y_out[library_index[key[r]]] += y[r]
    for r in np.flatnonzero((kind == "imbalance") & (y != 0)).tolist():
        y_imbalance[library_index[key[r]]] += y[r]
    shelf = np.flatnonzero((kind == "shelf") & (y != 0))
    shelf_pool = np.array([key[r] for r in shelf], dtype=np.int64)
    shelf_day = np.array([rows.meta[r][2] for r in shelf], dtype=np.int64)
    shelf_y = y[shelf]

    k = np.flatnonzero(cands.live)
    q = arcs.request[k]
    base = (
        arcs.cost[k]
        - cands.penalty[q]
        - y_out[arcs.lender[k]]
        - y_imbalance[arcs.lender[k]]
        + y_imbalance[arcs.borrower[k]]
    )
    # Shelf duals per pool and day, as prefix sums over days: the duals a loan shipped on
    # day d sits in are window[d + busy] - window[d].
    span = (
        int(max(cands.horizon, int(arcs.last_useful.max(initial=0))))
        + int(arcs.busy.max(initial=0))
        + 2
    )
    dual_pools, dual_row = np.unique(shelf_pool, return_inverse=True)
    row_of_pool = np.full(len(cands.pools), -1, dtype=np.int64)
    row_of_pool[dual_pools] = np.arange(len(dual_pools))
    window = np.zeros((len(dual_pools), span + 1))
    np.add.at(window, (dual_row, np.minimum(shelf_day, span - 1) + 1), shelf_y)
    window = np.cumsum(window, axis=1)

    # Days priced: each arc's earliest, and the day after each dual-carrying day of its pool.
    day_pairs = np.unique(dual_row * (span + 1) + shelf_day + 1) if len(shelf) else shelf_day
    pair_row, pair_day = day_pairs // (span + 1), day_pairs % (span + 1)
    per_row = np.bincount(pair_row, minlength=len(dual_pools))
    row_start = np.concatenate([[0], np.cumsum(per_row)])
    r_of_k = row_of_pool[arcs.pool[k]]
    counts = np.zeros(len(k), dtype=np.int64)
    if len(dual_pools):
        counts = np.where(r_of_k >= 0, per_row[np.maximum(r_of_k, 0)], 0)
    extra_arc = np.repeat(np.arange(len(k)), counts)
    first_pair = row_start[np.maximum(r_of_k, 0)] if len(dual_pools) else counts
    extra_day = pair_day[np.repeat(first_pair, counts) + _segments(counts)]
    fits = (arcs.earliest[k[extra_arc]] < extra_day) & (extra_day <= arcs.last_useful[k[extra_arc]])
    which = np.concatenate([np.arange(len(k)), extra_arc[fits]])
    day = np.concatenate([arcs.earliest[k], extra_day[fits]])
    arc = k[which]
    q = arcs.request[arc]
    late = np.maximum(0, day + arcs.out_days[arc] - cands.need[q])
    rc = base[which] + cands.late_rate[q] * late
    row = row_of_pool[arcs.pool[arc]]
    has = row >= 0
    rc[has] -= (
        window[row[has], np.minimum(day[has] + arcs.busy[arc[has]], span)]
        - window[row[has], day[has]]
    )

    best = np.zeros(len(instance.requests))  # min(0, min rc) per request
    np.minimum.at(best, q, rc)
    bound = cands.total_penalty + const + float(best.sum())

    # Columns to add: negative LP reduced cost, not already in the model.
    lp_rc = rc - y_request[q]
    wanted = np.flatnonzero(lp_rc < -EPS)
    code = arc[wanted] * (span + 1) + day[wanted]
    present = cands.var_arc * (span + 1) + cands.var_day
    wanted = wanted[~np.isin(code, present)]
    order = np.lexsort((lp_rc[wanted], q[wanted]))
    wanted = wanted[order]
    rank = _segments(np.bincount(q[wanted], minlength=len(instance.requests)))
    wanted = wanted[rank < per_request]
    return Pricing(bound, arc[wanted], day[wanted])


def add_columns(cands: Candidates, arc: np.ndarray, day: np.ndarray) -> None:
    """Append candidate loans (arc, day) to the model's arrays."""
    if not len(arc):
        return
    cands.var_arc = np.concatenate([cands.var_arc, arc])
    cands.var_day = np.concatenate([cands.var_day, day])
    cands.var_cost = np.concatenate([cands.var_cost, cands.loan_cost(arc, day)])
