"""Pricing: a proven bound, and the missing candidates worth adding, when the model holds
only part of the candidate loans (large instances keep each request's cheapest arcs and a
few ship days per arc).

Take the LP duals ``y`` of the shelf, max_outgoing and balance rows, keep "one loan per
request" as it is, and relax the rest: every plan over *all* candidate loans, on every day
from an arc's earliest to its last useful one, costs at least

    offset + sum_r y_r * b_r + sum_q min(0, min over the request's loans of rc(loan))

with rc the loan's cost less its request's penalty less the duals of the rows it would sit
in. That is a Lagrangian bound, valid for any ``y`` of the right signs. Along an arc, the
lateness only grows with the ship day and the shelf duals (never positive) only change
when a dual-carrying day enters or leaves the loan's busy window, so the minimum is on the
arc's earliest day or the day after a shelf row with a nonzero dual: only those are priced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.loans.candidates import Candidates

EPS = 1e-7


@dataclass
class Pricing:
    bound: float
    columns: list[tuple[int, int]]
    """(arc, ship day) pairs whose reduced cost beats every loan the request has in the model
    (the best ``per_request`` of them per request)."""


def price(
    cands: Candidates, rows: Any, duals: np.ndarray, matrix: Any, *, per_request: int = 16
) -> Pricing:
    instance = cands.instance
    y = np.asarray(duals, dtype=float).copy()
    lower, upper = np.asarray(rows.lower, dtype=float), np.asarray(rows.upper, dtype=float)
    one_sided = ~np.isfinite(lower)
    y[one_sided] = np.minimum(y[one_sided], 0.0)
    is_request = np.array([m[0] == "request" for m in rows.meta], dtype=bool)
    y[is_request] = 0.0  # the request rows stay as constraints
    const = float(np.sum(np.where(y < 0, y * np.where(np.isfinite(upper), upper, 0.0), 0.0)))
    const += float(np.sum(np.where(y > 0, y * np.where(np.isfinite(lower), lower, 0.0), 0.0)))

    y_out: dict[str, float] = defaultdict(float)
    y_imb: dict[str, float] = defaultdict(float)
    shelf: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (kind, key, day), value in zip(rows.meta, y.tolist(), strict=True):
        if value == 0.0:
            continue
        if kind == "out":
            y_out[key] += value
        elif kind == "imbalance":
            y_imb[key] += value
        elif kind == "shelf":
            shelf[key].append((day, value))

    arcs = cands.arcs
    n_req = len(instance.requests)
    # Best reduced cost per request among the loans already in the model.
    model_cost = cands.var_cost - cands.penalty[_var_request(cands)]
    model_rc = model_cost - matrix.T @ y if len(cands) else np.zeros(0)
    in_model = np.full(n_req, np.inf)
    if len(cands):
        np.minimum.at(in_model, _var_request(cands), model_rc)
    present = set(zip(cands.var_arc.tolist(), cands.var_day.tolist(), strict=True))

    priced = sorted(set(cands.var_arc.tolist()) | set(cands.reserve))
    best = np.zeros(n_req)  # min(0, min rc) per request
    best_col: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
    requests = instance.requests
    for k in priced:
        a = arcs[k]
        q = a.request
        lender = cands.pools[a.pool].library
        borrower = requests[q].library
        base = a.cost - float(cands.penalty[q]) - y_out[lender] - y_imb[lender] + y_imb[borrower]
        rate = float(cands.late_rate[q])
        need = int(cands.need[q])
        days = [a.earliest]
        duals_here = shelf.get(a.pool, [])
        days += sorted({t + 1 for t, _ in duals_here if a.earliest < t + 1 <= a.last_useful})
        for d in days:
            window = sum(v for t, v in duals_here if d <= t < d + a.busy)
            rc = base + rate * max(0, d + a.out_days - need) - window
            if rc < best[q]:
                best[q] = rc
            if rc < min(0.0, in_model[q]) - EPS and (k, d) not in present:
                best_col[q].append((rc, k, d))
    bound = cands.total_penalty + const + float(best.sum())
    columns = [(k, d) for found in best_col.values() for _, k, d in sorted(found)[:per_request]]
    return Pricing(bound, columns)


def _var_request(cands: Candidates) -> np.ndarray:
    return np.array([a.request for a in cands.arcs], dtype=np.int64)[cands.var_arc]


def add_columns(cands: Candidates, columns: list[tuple[int, int]]) -> None:
    """Append candidate loans (arc, day) to the model's arrays."""
    if not columns:
        return
    arc = np.array([k for k, _ in columns], dtype=np.int64)
    day = np.array([d for _, d in columns], dtype=np.int64)
    cost = np.array([cands.loan_cost(int(k), int(d)) for k, d in columns])
    cands.var_arc = np.concatenate([cands.var_arc, arc])
    cands.var_day = np.concatenate([cands.var_day, day])
    cands.var_cost = np.concatenate([cands.var_cost, cost])
