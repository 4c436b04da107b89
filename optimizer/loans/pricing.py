"""Pricing: a proven bound, and the missing candidates worth adding, when the model holds
only part of the candidate loans (large instances start from each request's cheapest arcs
on their first day).

Take the LP duals ``y`` of the shelf, max_outgoing and balance rows, keep "one loan per
request" as it is, and relax the rest: every plan over *all* candidate loans, on every day
from an arc's earliest to its last useful one, costs at least

    offset + sum_r y_r * b_r + sum_q min(0, min over the request's loans of rc(loan))

with rc the loan's cost less its request's penalty less the duals of the rows it would sit
in (and, re-planning, less the change penalty where the loan keeps a previous one; the
offset then includes the change cost of keeping nothing, and the row that forces a frozen
loan is relaxed with the others). That is a Lagrangian bound, valid for any ``y`` of the right signs (rows the model does
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

from optimizer.loans.arcs import segments
from optimizer.loans.candidates import Candidates

EPS = 1e-7
# Days a copy comes home offered to each waiting loan (see ``_home_days``).
HOME_DAYS = 1


@dataclass
class Pricing:
    bound: float
    arc: np.ndarray
    day: np.ndarray
    """Candidate loans (arc, ship day) not in the model whose LP reduced cost is negative:
    the ``per_request`` best of each request."""

    def __len__(self) -> int:
        return len(self.arc)


@dataclass
class Duals:
    """An LP's duals, read for pricing: signs fixed, request rows apart."""

    const: float
    """sum of y_r * b_r over the relaxed rows."""
    request: np.ndarray
    out: np.ndarray
    imbalance: np.ndarray
    window: np.ndarray
    """Per pool with shelf duals: prefix sums of the duals over days."""
    row_of_pool: np.ndarray
    pair_row: np.ndarray
    pair_day: np.ndarray
    """Days after a dual-carrying shelf day, per row of ``window`` (sorted)."""
    span: int
    frozen_code: np.ndarray
    """Frozen loans (arc × (horizon + 1) + day, sorted) and the duals of their rows."""
    frozen_y: np.ndarray


def read_duals(cands: Candidates, rows: Any, duals: np.ndarray) -> Duals:
    instance = cands.instance
    arcs = cands.arcs
    kind = np.array([m[0] for m in rows.meta], dtype=object)
    key = [m[1] for m in rows.meta]
    lower, upper = np.asarray(rows.lower, dtype=float), np.asarray(rows.upper, dtype=float)
    # Rows added after the LP that gave these duals count with y = 0 (any y of the right
    # signs gives a valid bound).
    y = np.zeros(len(rows.meta))
    y[: len(duals)] = duals
    one_sided = ~np.isfinite(lower)
    y[one_sided] = np.minimum(y[one_sided], 0.0)
    is_request = kind == "request"
    # The request rows stay as constraints; their duals only enter the LP reduced cost.
    y_request = np.zeros(len(instance.requests))
    request_rows = np.flatnonzero(is_request)
    y_request[[key[r] for r in request_rows]] = np.minimum(y[request_rows], 0.0)
    y[is_request] = 0.0
    # A frozen loan's row (x = 1) is relaxed like the others: its dual enters the constant
    # and the reduced cost of that one loan.
    frozen = np.flatnonzero(kind == "frozen")
    span_codes = cands.horizon + 1
    frozen_var = np.array([int(rows.index[r][0]) for r in frozen], dtype=np.int64)
    frozen_code = cands.var_arc[frozen_var] * span_codes + cands.var_day[frozen_var]
    order = np.argsort(frozen_code)
    frozen_code, frozen_y = frozen_code[order], y[frozen][order]
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
    last = max(cands.horizon, int(arcs.last_useful.max(initial=0)))
    span = last + int(arcs.busy.max(initial=0)) + 2
    shelf_day = _last_quiet_day(cands, shelf_pool, shelf_day, span)

    # Shelf duals per pool and day, as prefix sums over days: the duals a loan shipped on
    # day d sits in are window[d + busy] - window[d].
    dual_pools, dual_row = np.unique(shelf_pool, return_inverse=True)
    row_of_pool = np.full(len(cands.pools), -1, dtype=np.int64)
    row_of_pool[dual_pools] = np.arange(len(dual_pools))
    window = np.zeros((len(dual_pools), span + 1))
    np.add.at(window, (dual_row, np.minimum(shelf_day, span - 1) + 1), y[shelf])
    window = np.cumsum(window, axis=1)
    day_pairs = np.unique(dual_row * (span + 1) + shelf_day + 1) if len(shelf) else shelf_day
    return Duals(
        const,
        y_request,
        y_out,
        y_imbalance,
        window,
        row_of_pool,
        day_pairs // (span + 1),
        day_pairs % (span + 1),
        span,
        frozen_code,
        frozen_y,
    )


def _last_quiet_day(cands: Candidates, pool: np.ndarray, day: np.ndarray, span: int) -> np.ndarray:
    """Move each shelf row's dual from its day ``t`` to the last day before the pool's next
    event (a model loan ships or comes home, a copy is released).

    Between ``t`` and that event the model's loans out of the pool, and the copies on its
    shelf, are the same every day, so the rows "loans out on day t'" for any t' there are
    the same row for every loan in the model: moving the multiplier changes no reduced
    cost in the model and no term of the bound, and any multiplier on a valid row gives a
    valid bound. A loan *not* in the model that ships inside the quiet stretch now pays
    the dual, as it should (the copy is still out), instead of looking free the day after
    ``t`` and creeping forward a day per round.
    """
    if not len(pool):
        return day
    base = span + 1
    arcs = cands.arcs
    var_pool = cands.var_pool()
    home = cands.var_day + arcs.busy[cands.var_arc]
    wanted = np.unique(pool)
    releases = [(p, d) for p in wanted.tolist() for d in cands.pools[p].releases]
    release_code = np.array([p * base + min(d, span) for p, d in releases], dtype=np.int64)
    events = np.unique(
        np.concatenate(
            [
                var_pool * base + cands.var_day,
                var_pool * base + np.minimum(home, span),
                release_code,
            ]
        )
    )
    at = np.searchsorted(events, pool * base + day, side="right")
    nxt = events[np.minimum(at, len(events) - 1)]
    same = (at < len(events)) & (nxt // base == pool)
    until = np.where(same, nxt % base, span)
    return np.maximum(day, until - 1)


def reduced_costs(cands: Candidates, duals: Duals, arc: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Lagrangian reduced cost of each loan (arc, ship day), request row left out."""
    arcs = cands.arcs
    q = arcs.request[arc]
    late = np.maximum(0, day + arcs.out_days[arc] - cands.need[q])
    rc = (
        arcs.cost[arc]
        + cands.late_rate[q] * late
        - cands.keep_bonus(arc, day)
        - cands.penalty[q]
        - duals.out[arcs.lender[arc]]
        - duals.imbalance[arcs.lender[arc]]
        + duals.imbalance[arcs.borrower[arc]]
    )
    if len(duals.frozen_code):
        code = arc * (cands.horizon + 1) + day
        at = np.minimum(np.searchsorted(duals.frozen_code, code), len(duals.frozen_code) - 1)
        hit = duals.frozen_code[at] == code
        rc[hit] -= duals.frozen_y[at[hit]]
    row = duals.row_of_pool[arcs.pool[arc]]
    has = row >= 0
    end = np.minimum(day[has] + arcs.busy[arc[has]], duals.span)
    rc[has] -= duals.window[row[has], end] - duals.window[row[has], day[has]]
    return rc


def breakpoints(cands: Candidates, duals: Duals, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ship days where each arc of ``k`` can have its least reduced cost: the earliest,
    and the day after each dual-carrying shelf day of its pool, up to the last useful."""
    arcs = cands.arcs
    n_rows = duals.window.shape[0]
    counts = np.zeros(len(k), dtype=np.int64)
    first_pair = counts
    r_of_k = duals.row_of_pool[arcs.pool[k]]
    if n_rows:
        per_row = np.bincount(duals.pair_row, minlength=n_rows)
        row_start = np.concatenate([[0], np.cumsum(per_row)])
        counts = np.where(r_of_k >= 0, per_row[np.maximum(r_of_k, 0)], 0)
        first_pair = row_start[np.maximum(r_of_k, 0)]
    extra = np.repeat(np.arange(len(k)), counts)
    extra_day = duals.pair_day[np.repeat(first_pair, counts) + segments(counts)]
    fits = (arcs.earliest[k[extra]] < extra_day) & (extra_day <= arcs.last_useful[k[extra]])
    # A kept previous loan is cheaper on its previous day by the change penalty.
    kept = np.isin(cands.keep_arc, k)
    arc = np.concatenate([k, k[extra[fits]], cands.keep_arc[kept]])
    day = np.concatenate([arcs.earliest[k], extra_day[fits], cands.keep_day[kept]])
    return arc, day


def price(cands: Candidates, rows: Any, duals: np.ndarray, *, per_request: int = 4) -> Pricing:
    instance = cands.instance
    y = read_duals(cands, rows, duals)
    arc, day = breakpoints(cands, y, np.flatnonzero(cands.live))
    rc = reduced_costs(cands, y, arc, day)
    q = cands.arcs.request[arc]
    best = np.zeros(len(instance.requests))  # min(0, min rc) per request
    np.minimum.at(best, q, rc)
    bound = cands.offset + y.const + float(best.sum())

    # Columns to add: negative LP reduced cost, not already in the model.
    lp_rc = rc - y.request[q]
    wanted = np.flatnonzero(lp_rc < -EPS)
    wanted = wanted[~_present(cands, arc[wanted], day[wanted], y.span)]
    order = np.lexsort((lp_rc[wanted], q[wanted]))
    wanted = wanted[order]
    rank = segments(np.bincount(q[wanted], minlength=len(instance.requests)))
    wanted = wanted[rank < per_request]
    more_arc, more_day = _home_days(cands, arc[wanted], day[wanted], y.span)
    return Pricing(
        bound, np.concatenate([arc[wanted], more_arc]), np.concatenate([day[wanted], more_day])
    )


def _home_days(
    cands: Candidates, arc: np.ndarray, day: np.ndarray, span: int, *, ahead: int = HOME_DAYS
) -> tuple[np.ndarray, np.ndarray]:
    """For loans that wait (ship after their earliest day), the same arc on the next days
    a loan of its pool in the model comes home, up to ``ahead`` of them.

    A loan waits because its pool is full; the LP only has shelf rows where the model's
    loans start, so the pricing sees the pool as full one day at a time and a waiting loan
    would creep forward a day per round. The days a copy comes home are where it can
    really ship (see ``candidates``); offering them at once saves those rounds.
    """
    arcs = cands.arcs
    waits = np.flatnonzero(day > arcs.earliest[arc])
    if not len(waits) or not len(cands) or not ahead:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    base = span + 1
    home = cands.var_day + arcs.busy[cands.var_arc]
    codes = np.unique(arcs.pool[cands.var_arc] * base + np.minimum(home, span))
    arc, day = arc[waits], day[waits]
    first = np.searchsorted(codes, arcs.pool[arc] * base + day, side="right")
    out_arc, out_day = [], []
    for step in range(ahead):
        at = np.minimum(first + step, len(codes) - 1)
        code = codes[at]
        ok = (first + step < len(codes)) & (code // base == arcs.pool[arc])
        ok &= code % base <= arcs.last_useful[arc]
        out_arc.append(arc[ok])
        out_day.append(code[ok] % base)
    more_arc, more_day = np.concatenate(out_arc), np.concatenate(out_day)
    fresh = ~_present(cands, more_arc, more_day, span)
    # One column per (arc, day), even if two waiting loans of an arc point to the same day.
    _keys, unique = np.unique(more_arc[fresh] * base + more_day[fresh], return_index=True)
    return more_arc[fresh][unique], more_day[fresh][unique]


def _present(cands: Candidates, arc: np.ndarray, day: np.ndarray, span: int) -> np.ndarray:
    code = arc * (span + 1) + day
    return np.isin(code, cands.var_arc * (span + 1) + cands.var_day)


def completion(
    cands: Candidates, rows: Any, duals: np.ndarray, incumbent: float, *, limit: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Every candidate loan that could sit in a plan cheaper than ``incumbent``, or None if
    there are more than ``limit`` of them.

    With the Lagrangian bound ``L`` of these duals, a plan that fills request q by loan j
    costs at least ``L + rc_j - m_q`` (``m_q`` = min(0, least rc of q)), since every other
    request still adds at least its own minimum. So loans with ``rc_j - m_q`` above
    ``incumbent - L`` are in no better plan, and a MIP over the model plus the returned
    loans has the optimum of the whole problem: its bound is a bound of the whole.
    """
    y = read_duals(cands, rows, duals)
    arcs = cands.arcs
    live = np.flatnonzero(cands.live)
    arc, day = breakpoints(cands, y, live)
    rc = reduced_costs(cands, y, arc, day)
    q = arcs.request[arc]
    least = np.zeros(len(cands.instance.requests))
    np.minimum.at(least, q, rc)
    slack = incumbent - (cands.offset + y.const + float(least.sum()))
    # The least rc of each arc over its days bounds every day of it from below.
    arc_least = np.full(len(arcs), np.inf)
    np.minimum.at(arc_least, arc, rc)
    near = live[arc_least[live] - least[arcs.request[live]] <= slack + EPS]
    days = arcs.last_useful[near] - arcs.earliest[near] + 1
    if int(days.sum()) > 20 * limit:
        return None
    arc = np.repeat(near, days)
    day = arcs.earliest[arc] + segments(days)
    rc = reduced_costs(cands, y, arc, day)
    keep = rc - least[arcs.request[arc]] <= slack + EPS
    arc, day = arc[keep], day[keep]
    fresh = ~_present(cands, arc, day, y.span)
    if np.count_nonzero(fresh) > limit:
        return None
    return arc[fresh], day[fresh]


def add_columns(cands: Candidates, arc: np.ndarray, day: np.ndarray) -> None:
    """Append candidate loans (arc, day) to the model's arrays."""
    if not len(arc):
        return
    cands.var_arc = np.concatenate([cands.var_arc, arc])
    cands.var_day = np.concatenate([cands.var_day, day])
    cands.var_cost = np.concatenate([cands.var_cost, cands.loan_cost(arc, day)])
