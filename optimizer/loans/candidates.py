"""Pools, arcs and candidate loans: what any rule allows, before anything is chosen.

A *pool* holds the lendable copies of one title at one library. Copies of a pool are
interchangeable, so the model decides how many loans a pool has out at each day and the
copies are named afterwards: loans sorted by ship day each take a copy that is already on
the shelf and free, which always exists when, at every ship day, the loans out number at
most the copies released by then (interval graphs colour greedily). With
``keep_one_on_shelf`` the pool's capacity is one copy less.

An *arc* is a (request, pool) pair that the rules allow: the title is acceptable, the
pool is at another library with a route both ways, and a copy can ship within the horizon.
A *candidate* is an arc with a ship day. Shipping later only adds lateness, so a ship day
is worth considering only if it is the arc's earliest, or the day a competing loan of the
same pool comes home, or the day another copy of the pool is released: any optimal plan
can be shifted left until each loan sits on one of those days. The days are closed under
"comes home" per pool; a cap on days per arc keeps the model small, and when it cuts,
the model is marked inexact and no bound is claimed by the MIP.

Large instances start from a *restricted* model instead: each request's cheapest arcs on
their earliest day, and column generation (``colgen``) prices in the other arcs and days.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from optimizer.loans.schema import Copy, LoansInstance

# Ship days kept per arc; beyond it the candidate set (and so any bound) is no longer exact.
MAX_DAYS_PER_ARC = 64


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
    """Every arc as parallel arrays, sorted by request: a million arcs build in a second
    this way, where Python objects took fourteen."""

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


@dataclass
class Candidates:
    instance: LoansInstance
    horizon: int
    pools: list[Pool]
    arcs: ArcTable
    penalty: np.ndarray  # unfilled * weight, per request
    late_rate: np.ndarray  # late_per_day * weight, per request
    need: np.ndarray  # needed_by as a day index, per request
    live: np.ndarray
    """Per arc: useful and not dominated. The pricing looks at every live arc."""
    # candidate loans (arc, ship day) as parallel arrays
    var_arc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    var_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    var_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dominated: int = 0
    """Arcs dropped because a free arc of the same request is at least as good."""
    exact: bool = True
    """False when the model holds only part of the candidate loans: it is restricted (the
    pricing adds the rest), or some ship day worth considering was cut by MAX_DAYS_PER_ARC
    or the deadline."""

    def loan_cost(self, arc: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Shipping cost plus the weighted lateness of shipping each ``arc`` on its ``day``."""
        a = self.arcs
        q = a.request[arc]
        late = np.maximum(0, day + a.out_days[arc] - self.need[q])
        return a.cost[arc] + self.late_rate[q] * late

    def var_request(self) -> np.ndarray:
        return self.arcs.request[self.var_arc]

    def var_pool(self) -> np.ndarray:
        return self.arcs.pool[self.var_arc]

    @property
    def total_penalty(self) -> float:
        return float(self.penalty.sum())

    def __len__(self) -> int:
        return len(self.var_arc)


def build_pools(instance: LoansInstance) -> list[Pool]:
    keep = instance.policies.keep_one_on_shelf
    grouped: dict[tuple[str, str], list[Copy]] = defaultdict(list)
    for c in instance.copies:
        if c.lendable:
            grouped[(c.library, c.title)].append(c)
    pools: list[Pool] = []
    for (library, title), copies in grouped.items():
        releases = sorted(instance.release_day(c) for c in copies)
        if keep:
            releases = releases[1:]
        pools.append(Pool(len(pools), library, title, copies, releases))
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


def build_candidates(
    instance: LoansInstance,
    *,
    max_days: int = MAX_DAYS_PER_ARC,
    max_arcs: int | None = None,
    restrict_above: int | None = None,
    deadline: float | None = None,
) -> Candidates:
    """Candidate loans. With ``max_arcs`` (and more than ``restrict_above`` live arcs, when
    given) the model is *restricted*: only each request's ``max_arcs`` cheapest arcs, each
    on its earliest day, and the pricing brings in the rest. A model where no copy can be
    lent twice is never restricted: it is an assignment, solved whole. Past ``deadline`` (a
    ``time.perf_counter`` value) the build stops refining: no second dominance pass, and
    each arc keeps only its earliest day (the model is then inexact)."""

    def late() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    pools = build_pools(instance)
    arcs = build_arcs(instance, pools)
    pen = instance.penalties
    requests = instance.requests
    weight = np.array([r.weight for r in requests], dtype=float)
    cands = Candidates(
        instance=instance,
        horizon=instance.last_day,
        pools=pools,
        arcs=arcs,
        penalty=pen.unfilled * weight,
        late_rate=pen.late_per_day * weight,
        need=np.array([instance.day(r.needed_by) for r in requests], dtype=np.int64),
        live=arcs.earliest <= arcs.last_useful,
    )
    live = cands.live
    if instance.policies.max_imbalance is None:
        for turn in range(2):
            if turn and late():
                break
            congested = _congested_pools(pools, arcs, live)
            cands.dominated += _drop_dominated(instance, cands, live, congested)
    large = restrict_above is None or live.sum() > restrict_above
    if max_arcs is not None and large and not single_use(instance, arcs, live):
        cands.exact = False
        first = arcs.first_cost(cands.late_rate, cands.need)
        chosen = np.flatnonzero(live)
        order = np.lexsort((chosen, first[chosen], arcs.request[chosen]))
        chosen = chosen[order]
        rank = segments(np.bincount(arcs.request[chosen], minlength=len(requests)))
        cands.var_arc = chosen[rank < max_arcs]
        cands.var_day = arcs.earliest[cands.var_arc]
        cands.var_cost = first[cands.var_arc]
        return cands
    congested = _congested_pools(pools, arcs, live)
    members = np.flatnonzero(live)
    members = members[np.argsort(arcs.pool[members], kind="stable")]
    split = np.flatnonzero(np.diff(arcs.pool[members])) + 1
    var_arc: list[np.ndarray] = []
    var_day: list[np.ndarray] = []
    hurry = False
    for group in np.split(members, split) if len(members) else []:
        p = int(arcs.pool[group[0]])
        hurry = hurry or late()
        if hurry and congested[p]:
            cands.exact = False
        if hurry or not congested[p]:
            # Never full: no loan ever waits, each ships on its earliest day.
            var_arc.append(group)
            var_day.append(arcs.earliest[group])
            continue
        for k, days in zip(group.tolist(), _ship_days(pools[p], arcs, group), strict=True):
            if len(days) > max_days:
                cands.exact = False
                days = days[:max_days]
            var_arc.append(np.full(len(days), k, dtype=np.int64))
            var_day.append(np.array(days, dtype=np.int64))
    if var_arc:
        cands.var_arc = np.concatenate(var_arc)
        cands.var_day = np.concatenate(var_day)
        # Request order, as the arcs themselves: rows and plans read the same either way,
        # and a stable order keeps solver runs reproducible.
        order = np.lexsort((cands.var_day, cands.var_arc))
        cands.var_arc, cands.var_day = cands.var_arc[order], cands.var_day[order]
        cands.var_cost = cands.loan_cost(cands.var_arc, cands.var_day)
    return cands


def no_reuse(
    instance: LoansInstance, pool: np.ndarray, latest: np.ndarray, first_end: np.ndarray
) -> bool:
    """No policy couples loans, and in every pool each loan must ship (by its ``latest``
    day) before any other could come home (``first_end``): no copy can serve two loans."""
    policies = instance.policies
    if policies.keep_one_on_shelf or policies.max_imbalance is not None:
        return False
    if not len(pool):
        return True
    n = int(pool.max()) + 1
    latest_start = np.full(n, -1, dtype=np.int64)
    earliest_end = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.maximum.at(latest_start, pool, latest)
    np.minimum.at(earliest_end, pool, first_end)
    return bool(np.all(latest_start < earliest_end))


def single_use(instance: LoansInstance, arcs: ArcTable, live: np.ndarray) -> bool:
    """``no_reuse`` over every live arc on any useful day."""
    on = np.flatnonzero(live)
    return no_reuse(
        instance, arcs.pool[on], arcs.last_useful[on], arcs.earliest[on] + arcs.busy[on]
    )


def _congested_pools(pools: list[Pool], arcs: ArcTable, live: np.ndarray) -> np.ndarray:
    """Pools that could ever be full: more loans possibly out on some day than copies."""
    out = np.zeros(len(pools), dtype=bool)
    on = np.flatnonzero(live)
    if not len(on):
        return out
    pool = arcs.pool[on]
    start = arcs.earliest[on]
    end = arcs.last_useful[on] + arcs.busy[on]
    counts = np.bincount(pool, minlength=len(pools))
    first = np.full(len(pools), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, pool, start)
    # No more requests than copies on the shelf from the first possible day: never full.
    suspects = [
        p for p in np.flatnonzero(counts).tolist() if counts[p] > pools[p].capacity(int(first[p]))
    ]
    if not suspects:
        return out
    row = np.full(len(pools), -1, dtype=np.int64)
    row[suspects] = np.arange(len(suspects))
    keep = row[pool] >= 0
    span = int(end.max()) + 1
    load = np.zeros((len(suspects), span + 1), dtype=np.int32)
    np.add.at(load, (row[pool[keep]], start[keep]), 1)
    np.add.at(load, (row[pool[keep]], end[keep]), -1)
    load = np.cumsum(load, axis=1)[:, :span]
    # Copies on the shelf by each day, per suspect pool, the same way.
    cap = np.zeros((len(suspects), span + 1), dtype=np.int32)
    rel_row = np.repeat(np.arange(len(suspects)), [len(pools[p].releases) for p in suspects])
    rel_day = np.array([d for p in suspects for d in pools[p].releases], dtype=np.int64)
    np.add.at(cap, (rel_row, np.minimum(rel_day, span)), 1)
    cap = np.cumsum(cap, axis=1)[:, :span]
    out[suspects] = np.any(load > cap, axis=1)
    return out


def _drop_dominated(
    instance: LoansInstance, cands: Candidates, live: np.ndarray, congested: np.ndarray
) -> int:
    """Drop arcs no better than a request's best *free* arc (in ``live``, in place); return
    how many were dropped.

    A free arc's pool is never full and its lender's max_outgoing can never bind, so a
    loan on it at its earliest day fits next to any plan. Any plan that serves the request
    through a dearer arc can swap to it without loss (there is no balance rule here).
    """
    arcs = cands.arcs
    on = np.flatnonzero(live)
    if not len(on):
        return 0
    n_lib = len(instance.libraries)
    # Libraries whose max_outgoing could bind: more requests could borrow from them.
    pairs = np.unique(arcs.lender[on] * len(instance.requests) + arcs.request[on])
    potential = np.bincount(pairs // len(instance.requests), minlength=n_lib)
    cap = np.array(
        [x.max_outgoing if x.max_outgoing is not None else -1 for x in instance.libraries]
    )
    bounded = (cap >= 0) & (potential > cap)
    first = arcs.first_cost(cands.late_rate, cands.need)
    free = on[~congested[arcs.pool[on]] & ~bounded[arcs.lender[on]]]
    if not len(free):
        return 0
    # Each request's best free arc: the cheapest, the lowest index on ties.
    order = np.lexsort((free, first[free], arcs.request[free]))
    ranked = free[order]
    head = np.ones(len(ranked), dtype=bool)
    head[1:] = arcs.request[ranked[1:]] != arcs.request[ranked[:-1]]
    best = ranked[head]
    limit = np.full(len(instance.requests), np.inf)
    limit[arcs.request[best]] = first[best]
    drop = on[first[on] >= limit[arcs.request[on]]]
    keep = np.zeros(len(arcs), dtype=bool)
    keep[best] = True
    drop = drop[~keep[drop]]
    live[drop] = False
    return len(drop)


def _ship_days(pool: Pool, arcs: ArcTable, members: np.ndarray) -> list[list[int]]:
    """The ship days worth considering for each arc (``members``) of one pool.

    Shift any plan's loans left while the rules allow: a loan then ships on its earliest
    day, or on a day ``d`` such that the pool was full on ``d - 1`` and a competing loan came
    home or a copy was released on ``d``. The pool can only be full on a day when enough
    other requests could have a loan out then, which is what ``load`` counts. The days are
    closed under "a loan shipped on such a day comes home".
    """
    mine = [arcs[k] for k in members.tolist()]
    hi = max(a.last_useful for a in mine)
    span = hi + max(a.busy for a in mine) + 2
    # load[t]: arcs whose loan could be out on day t (each arc is its own request here).
    diff = np.zeros(span + 1, dtype=np.int64)
    for a in mine:
        diff[a.earliest] += 1
        diff[min(span, a.last_useful + a.busy)] -= 1
    load = np.cumsum(diff)

    def may_wait_until(a: Arc, d: int) -> bool:
        if not a.earliest < d <= a.last_useful:
            return False
        own = 1 if a.earliest <= d - 1 < a.last_useful + a.busy else 0
        return int(load[d - 1]) - own >= pool.capacity(d - 1)

    events = {d for d in pool.releases if d <= hi}
    frontier = sorted({a.earliest for a in mine} | events)
    while frontier:
        new: set[int] = set()
        for d in frontier:
            for a in mine:
                if d == a.earliest or (d in events and may_wait_until(a, d)):
                    home = d + a.busy
                    # A home day may also be some arc's earliest day: it still becomes an
                    # event, so that the other arcs may wait until it.
                    if home <= hi and home not in events:
                        new.add(home)
        events |= new
        frontier = sorted(new)
    ordered = sorted(events)
    out = []
    for a in mine:
        lo = bisect.bisect_right(ordered, a.earliest)
        top = bisect.bisect_right(ordered, a.last_useful)
        out.append([a.earliest] + [d for d in ordered[lo:top] if may_wait_until(a, d)])
    return out


def loan_entry(
    instance: LoansInstance,
    request_index: int,
    copy: Copy,
    ship: int,
    out_days: int,
    back_days: int,
    cost: float,
) -> dict[str, object]:
    """One loan of the solution payload, dates written out from day indices."""
    from datetime import timedelta

    r = instance.requests[request_index]
    start = instance.horizon.start
    arrive = ship + out_days
    due_back = arrive + r.loan_days
    home = due_back + back_days

    def iso(day: int) -> str:
        return (start + timedelta(days=day)).isoformat()

    return {
        "request": r.id,
        "copy": copy.id,
        "lender": copy.library,
        "title": copy.title,
        "ship": iso(ship),
        "arrive": iso(arrive),
        "due_back": iso(due_back),
        "home": iso(home),
        "late_days": max(0, arrive - instance.day(r.needed_by)),
        "cost": cost,
        "borrower": r.library,
    }
