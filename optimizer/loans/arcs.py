"""Pools and arcs: which copies could serve which request, before any day is chosen.

A *pool* holds the lendable copies of one title at one library. Copies of a pool are
interchangeable, so the model decides how many loans a pool has out at each day and the
copies are named afterwards: loans sorted by ship day each take a copy that is already on
the shelf and free, which always exists when, at every ship day, the loans out number at
most the copies released by then (interval graphs colour greedily). With
``keep_one_on_shelf`` the pool's capacity is one copy less.

An *arc* is a (request, pool) pair that the rules allow: the title is acceptable, the
pool is at another library with a route both ways, and a copy can ship within the horizon.
``candidates`` gives each arc its ship days.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from optimizer.loans.schema import Copy, LoansInstance


@dataclass
class Pool:
    index: int
    library: str
    title: str
    copies: list[Copy]
    releases: list[int]
    """Release day of each copy, sorted; with keep_one_on_shelf the first is dropped."""

    def capacity(self, day: int) -> int:
        """Loans the pool can have out on ``day``."""
        return bisect.bisect_right(self.releases, day)

    @property
    def first_day(self) -> int | None:
        return self.releases[0] if self.releases else None


@dataclass(frozen=True, slots=True)
class Arc:
    """One row of the arc table, for code that looks at a single arc."""

    request: int
    pool: int
    out_days: int
    back_days: int
    cost: float
    busy: int
    """Days the copy is away: outbound shipping + loan period + return shipping."""
    earliest: int
    last_useful: int
    """Last ship day at which the loan still costs less than leaving the request unfilled."""


@dataclass
class ArcTable:
    """Every arc as parallel arrays, sorted by request: an order of magnitude faster to
    build than an object per arc (measured with benchmarks/loans.py; see
    benchmarks/RESULTS.md)."""

    request: np.ndarray
    pool: np.ndarray
    lender: np.ndarray
    """Library index (into ``instance.libraries``) of the pool's library."""
    borrower: np.ndarray
    out_days: np.ndarray
    back_days: np.ndarray
    cost: np.ndarray
    busy: np.ndarray
    earliest: np.ndarray
    last_useful: np.ndarray

    def __len__(self) -> int:
        return len(self.request)

    def __getitem__(self, k: int) -> Arc:
        return Arc(
            int(self.request[k]),
            int(self.pool[k]),
            int(self.out_days[k]),
            int(self.back_days[k]),
            float(self.cost[k]),
            int(self.busy[k]),
            int(self.earliest[k]),
            int(self.last_useful[k]),
        )

    def first_cost(self, late_rate: np.ndarray, need: np.ndarray) -> np.ndarray:
        """Shipping cost plus weighted lateness of each arc shipped on its earliest day."""
        q = self.request
        late = np.maximum(0, self.earliest + self.out_days - need[q])
        return self.cost + late_rate[q] * late


def build_pools(instance: LoansInstance, apart: Collection[str] = ()) -> list[Pool]:
    """The pools of the instance. Each copy of ``apart`` is a pool of its own (re-planning:
    a copy that a kept loan must have back), so that the model says which loans it serves;
    not with keep_one_on_shelf, whose spare copy may be any copy of the library's title."""
    keep = instance.policies.keep_one_on_shelf
    grouped: dict[tuple[str, str], list[Copy]] = defaultdict(list)
    for c in instance.copies:
        if c.lendable:
            grouped[(c.library, c.title)].append(c)
    pools: list[Pool] = []
    for (library, title), copies in grouped.items():
        groups = [copies]
        if apart and not keep:
            alone = [[c] for c in copies if c.id in apart]
            groups = [*alone, [c for c in copies if c.id not in apart]]
        for members in groups:
            if not members:
                continue
            releases = sorted(instance.release_day(c) for c in members)
            if keep:
                releases = releases[1:]
            pools.append(Pool(len(pools), library, title, members, releases))
    return pools


def segments(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c - 1 for each count c, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)


def build_arcs(instance: LoansInstance, pools: list[Pool]) -> ArcTable:
    """Every (request, pool) pair the rules allow, sorted by request."""
    horizon = instance.last_day
    library_index = {x.id: i for i, x in enumerate(instance.libraries)}
    n_lib = len(library_index)
    requests = instance.requests

    titles: dict[str, int] = {}
    for p in pools:
        titles.setdefault(p.title, len(titles))
    pool_title = np.array([titles[p.title] for p in pools], dtype=np.int64)
    pool_lib = np.array([library_index[p.library] for p in pools], dtype=np.int64)
    big = horizon + 1
    pool_first = np.array(
        [p.first_day if p.first_day is not None else big for p in pools], dtype=np.int64
    )
    # Pools that can lend within the horizon, grouped by title.
    lendable = np.flatnonzero(pool_first <= horizon)
    by_title = lendable[np.argsort(pool_title[lendable], kind="stable")]
    per_title = np.bincount(pool_title[by_title], minlength=len(titles))
    title_start = np.concatenate([[0], np.cumsum(per_title)])

    # (request, title) pairs in request order, each title once.
    pair_request: list[int] = []
    pair_title: list[int] = []
    for q, r in enumerate(requests):
        for title in dict.fromkeys(r.titles):
            code = titles.get(title)
            if code is not None:
                pair_request.append(q)
                pair_title.append(code)
    pq = np.array(pair_request, dtype=np.int64)
    pt = np.array(pair_title, dtype=np.int64)
    counts = per_title[pt] if len(pt) else np.zeros(0, dtype=np.int64)
    request = np.repeat(pq, counts)
    pool = by_title[np.repeat(title_start[pt], counts) + segments(counts)]

    borrower_of = np.array([library_index[r.library] for r in requests], dtype=np.int64)
    lender = pool_lib[pool]
    borrower = borrower_of[request]
    # Legs per (lender, borrower) pair that occurs: both directions or no arc.
    routes = instance.routes()
    names = [x.id for x in instance.libraries]
    pair = lender * n_lib + borrower
    seen, inverse = np.unique(pair, return_inverse=True)
    out_days = np.full(len(seen), -1, dtype=np.int64)
    back_days = np.full(len(seen), -1, dtype=np.int64)
    cost = np.zeros(len(seen))
    for i, code in enumerate(seen.tolist()):
        a, b = names[code // n_lib], names[code % n_lib]
        there, back = routes.get((a, b)), routes.get((b, a))
        if there is not None and back is not None:  # never the borrower's own library
            out_days[i], cost[i], back_days[i] = there.days, there.cost, back.days
    open_day = np.array([instance.open_day(r) for r in requests], dtype=np.int64)
    earliest = np.maximum(open_day[request], pool_first[pool])
    keep = (out_days[inverse] >= 0) & (earliest <= horizon)

    request, pool, lender, borrower = request[keep], pool[keep], lender[keep], borrower[keep]
    inverse, earliest = inverse[keep], earliest[keep]
    out, back, arc_cost = out_days[inverse], back_days[inverse], cost[inverse]
    loan_days = np.array([r.loan_days for r in requests], dtype=np.int64)
    pen = instance.penalties
    weight = np.array([r.weight for r in requests], dtype=float)
    last = np.full(len(request), horizon, dtype=np.int64)
    if instance.policies.max_imbalance is None:
        # Without max_imbalance every rule only limits loans, so a loan that costs at
        # least the penalty can always be dropped without loss.
        slack = pen.unfilled * weight[request] - arc_cost
        rate = pen.late_per_day * weight[request]
        last[slack <= 0] = -1
        timed = (slack > 0) & (rate > 0)
        # cost + rate * max(0, s + out - need) < penalty
        need = np.array([instance.day(r.needed_by) for r in requests], dtype=np.int64)
        limit = need[request] - out + np.ceil(slack / np.where(timed, rate, 1.0)) - 1
        last[timed] = np.minimum(horizon, limit[timed].astype(np.int64))
    return ArcTable(
        request=request,
        pool=pool,
        lender=lender,
        borrower=borrower,
        out_days=out,
        back_days=back,
        cost=arc_cost,
        busy=out + loan_days[request] + back,
        earliest=earliest,
        last_useful=last,
    )
