"""The loans model as data: its rows, its objective coefficients, its matrix.

One binary per candidate loan (request, pool, ship day). Hard rules:

* a request takes at most one loan;
* a pool never has more loans out on a day than copies on its shelf by then (checked at
  every candidate ship day, where the count can rise), less one with keep_one_on_shelf;
* a library ships at most ``max_outgoing`` loans;
* every library's loans lent and received differ by at most ``max_imbalance``;
* re-planning, a frozen previous loan is made again as it was.

When no copy can serve two loans in the horizon and neither shelf nor balance policy is
set, every pool's intervals overlap pairwise, its day rows are nested, and the matrix
(request rows, nested pool rows inside library rows) is totally unimodular: the problem
is an assignment and a simplex vertex of the LP is an optimal plan (``is_single_use``).

Nothing here chooses a solver or a strategy: ``backends`` runs this model, ``rounding``
and ``colgen`` decide how, ``model`` which path to take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.loans.candidates import Candidates, no_reuse


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
    library, 0), ("frozen", q, 0); the pricing reads duals through it."""

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


def frozen_rows(cands: Candidates, rows: Rows) -> None:
    """Hard: a frozen previous loan (shipped by ``options.now``) is chosen as it was."""
    at = cands.keep_vars()
    for keep, v in zip(cands.keeps, at.tolist(), strict=True):
        if not keep.frozen:
            continue
        rid = cands.instance.requests[keep.request].id
        if v < 0:  # the candidates always hold a keep's loan; say so loudly if not
            raise RuntimeError(f"the frozen loan of {rid} is not a candidate")
        rows.add(f"frozen[{rid}]", *_ones([v]), 1.0, 1.0, ("frozen", keep.request, 0))


def build_rows(cands: Candidates, *, complete: bool = False) -> Rows:
    rows = Rows([], [], [], [], [], [])
    request_rows(cands, rows, complete=complete)
    pool_rows(cands, rows)
    library_rows(cands, rows, complete=complete)
    frozen_rows(cands, rows)
    return rows


def objective_coefficients(cands: Candidates) -> tuple[np.ndarray, float]:
    """Soft: each loan costs shipping + weighted lateness and saves its request's penalty;
    re-planning, a loan that keeps a previous one saves the change penalty too, against the
    change cost of keeping nothing in the offset."""
    return cands.var_cost - cands.penalty[cands.var_request()], cands.offset


def is_single_use(cands: Candidates) -> bool:
    """True when no rule couples loans in time, so the LP is an assignment (see module doc)."""
    ends = cands.var_day + cands.arcs.busy[cands.var_arc]
    return no_reuse(cands.instance, cands.var_pool(), cands.var_day, ends)


def constraint_matrix(rows: Rows, n: int) -> Any:
    """The rows as a scipy CSR matrix over ``n`` candidate loans."""
    from scipy.sparse import csr_matrix

    starts = np.zeros(len(rows) + 1, dtype=np.int64)
    if len(rows):
        starts[1:] = np.cumsum([len(i) for i in rows.index])
        index = np.concatenate(rows.index)
        value = np.concatenate(rows.coef).astype(float)
    else:
        index, value = np.zeros(0, dtype=np.int64), np.zeros(0)
    return csr_matrix((value, index, starts), shape=(len(rows), n))
