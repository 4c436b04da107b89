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
the model is marked inexact and no bound is claimed.
"""

from __future__ import annotations

import bisect
import math
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


@dataclass(slots=True)
class Arc:
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
class Candidates:
    instance: LoansInstance
    horizon: int
    pools: list[Pool]
    arcs: list[Arc]
    arcs_by_request: list[list[int]]
    penalty: np.ndarray  # unfilled * weight, per request
    late_rate: np.ndarray  # late_per_day * weight, per request
    need: np.ndarray  # needed_by as a day index, per request
    # candidate loans (arc, ship day) as parallel arrays
    var_arc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    var_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    var_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reserve: list[int] = field(default_factory=list)
    """Arcs left out of the model by ``max_arcs``; the pricing still looks at them."""
    dominated: int = 0
    """Arcs dropped because a free arc of the same request is at least as good."""
    congested: list[bool] = field(default_factory=list)
    """Per pool: could it ever be full? Pools that cannot need no shelf rows."""
    exact: bool = True
    """False when some ship day worth considering was cut by MAX_DAYS_PER_ARC."""

    def loan_cost(self, arc: int, day: int) -> float:
        """Shipping cost plus the weighted lateness of shipping ``arc`` on ``day``."""
        a = self.arcs[arc]
        late = max(0, day + a.out_days - int(self.need[a.request]))
        return a.cost + float(self.late_rate[a.request]) * late

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


def build_arcs(instance: LoansInstance, pools: list[Pool]) -> tuple[list[Arc], list[list[int]]]:
    horizon = instance.last_day
    routes = instance.routes()
    # legs[borrower][lender] = (days out, cost out, days back): both directions or nothing.
    legs: dict[str, dict[str, tuple[int, float, int]]] = defaultdict(dict)
    for (lender, borrower), there in routes.items():
        back = routes.get((borrower, lender))
        if back is not None:
            legs[borrower][lender] = (there.days, there.cost, back.days)
    by_title: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for p in pools:
        if p.first_day is not None and p.first_day <= horizon:
            by_title[p.title].append((p.index, p.library, p.first_day))
    unfilled, late_per_day = instance.penalties.unfilled, instance.penalties.late_per_day
    prune = instance.policies.max_imbalance is None
    arcs: list[Arc] = []
    by_request: list[list[int]] = []
    for q, r in enumerate(instance.requests):
        mine: list[int] = []
        open_day = instance.open_day(r)
        need = instance.day(r.needed_by)
        reach = legs.get(r.library, {})
        rate = late_per_day * r.weight
        penalty = unfilled * r.weight
        for title in dict.fromkeys(r.titles):
            for index, library, first_day in by_title.get(title, ()):
                leg = reach.get(library)
                if leg is None:  # no route both ways, or the borrower's own library
                    continue
                out_days, cost, back_days = leg
                earliest = max(open_day, first_day)
                if earliest > horizon:
                    continue
                last = horizon
                if prune:
                    # Without max_imbalance every rule only limits loans, so a loan that costs
                    # at least the penalty can always be dropped without loss.
                    slack = penalty - cost
                    if slack <= 0:
                        last = -1
                    elif rate > 0:
                        # cost + rate * max(0, s + out - need) < penalty
                        last = min(horizon, need - out_days + math.ceil(slack / rate) - 1)
                mine.append(len(arcs))
                arcs.append(
                    Arc(
                        q,
                        index,
                        out_days,
                        back_days,
                        cost,
                        out_days + r.loan_days + back_days,
                        earliest,
                        last,
                    )
                )
        by_request.append(mine)
    return arcs, by_request


def build_candidates(
    instance: LoansInstance,
    *,
    max_days: int = MAX_DAYS_PER_ARC,
    max_arcs: int | None = None,
    restrict_above: int | None = None,
    restricted_days: int = 6,
    deadline: float | None = None,
) -> Candidates:
    """Candidate loans; with ``max_arcs``, only each request's cheapest arcs enter the model
    and the others wait in ``reserve`` for the pricing (the model is then inexact).
    ``restrict_above``: apply ``max_arcs`` and ``restricted_days`` only when more arcs than
    this survive the dominance rules. Past ``deadline`` (a ``time.perf_counter`` value) the
    build stops refining: no second dominance pass, and each arc keeps only its earliest
    day (the model is then inexact)."""

    def late() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    pools = build_pools(instance)
    arcs, by_request = build_arcs(instance, pools)
    pen = instance.penalties
    cands = Candidates(
        instance=instance,
        horizon=instance.last_day,
        pools=pools,
        arcs=arcs,
        arcs_by_request=by_request,
        penalty=np.array([pen.unfilled * r.weight for r in instance.requests], dtype=float),
        late_rate=np.array([pen.late_per_day * r.weight for r in instance.requests], dtype=float),
        need=np.array([instance.day(r.needed_by) for r in instance.requests], dtype=np.int64),
    )
    active = [a.earliest <= a.last_useful for a in arcs]
    congested = [True] * len(pools)
    if instance.policies.max_imbalance is None:
        for turn in range(2):
            if turn and late():
                break
            congested = _congested_pools(pools, arcs, active)
            cands.dominated += _drop_dominated(instance, pools, arcs, by_request, active, congested)
    else:
        congested = _congested_pools(pools, arcs, active)
    if restrict_above is not None and sum(active) <= restrict_above:
        max_arcs = None
    elif restrict_above is not None:
        max_days = min(max_days, restricted_days)
    if max_arcs is not None:
        for q, mine in enumerate(by_request):
            live = [k for k in mine if active[k]]
            if len(live) <= max_arcs:
                continue
            rate = float(cands.late_rate[q])
            need = int(cands.need[q])
            live.sort(
                key=lambda k: (
                    arcs[k].cost + rate * max(0, arcs[k].earliest + arcs[k].out_days - need),
                    k,
                )
            )
            for k in live[max_arcs:]:
                active[k] = False
                cands.reserve.append(k)
        if cands.reserve:
            cands.exact = False
            congested = _congested_pools(pools, arcs, active)
    cands.congested = congested
    arcs_by_pool: list[list[int]] = [[] for _ in pools]
    for k, a in enumerate(arcs):
        if active[k]:
            arcs_by_pool[a.pool].append(k)
    var_arc: list[int] = []
    var_day: list[int] = []
    hurry = False
    for p, members in zip(pools, arcs_by_pool, strict=True):
        if not members:
            continue
        hurry = hurry or late()
        if hurry and congested[p.index]:
            cands.exact = False
        if hurry or not congested[p.index]:
            # Never full: no loan ever waits, each ships on its earliest day.
            var_arc += members
            var_day += [arcs[k].earliest for k in members]
            continue
        for k, days in zip(members, _ship_days(p, [arcs[k] for k in members]), strict=True):
            if len(days) > max_days:
                cands.exact = False
                days = days[:max_days]
            var_arc += [k] * len(days)
            var_day += days
    cands.var_arc = np.array(var_arc, dtype=np.int64)
    cands.var_day = np.array(var_day, dtype=np.int64)
    if len(var_arc):
        out = np.array([a.out_days for a in arcs], dtype=np.int64)[cands.var_arc]
        cost = np.array([a.cost for a in arcs])[cands.var_arc]
        req = np.array([a.request for a in arcs], dtype=np.int64)[cands.var_arc]
        late = np.maximum(0, cands.var_day + out - cands.need[req])
        cands.var_cost = cost + cands.late_rate[req] * late
    return cands


def _congested_pools(pools: list[Pool], arcs: list[Arc], active: list[bool]) -> list[bool]:
    """Pools that could ever be full: more loans possibly out on some day than copies."""
    live = [a for a, on in zip(arcs, active, strict=True) if on]
    out = [False] * len(pools)
    if not live:
        return out
    pool = np.fromiter((a.pool for a in live), dtype=np.int64, count=len(live))
    start = np.fromiter((a.earliest for a in live), dtype=np.int64, count=len(live))
    end = np.fromiter((a.last_useful + a.busy for a in live), dtype=np.int64, count=len(live))
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
    days = np.arange(span)
    for r, p in enumerate(suspects):
        cap = np.searchsorted(np.asarray(pools[p].releases, dtype=np.int64), days, side="right")
        out[p] = bool(np.any(load[r] > cap))
    return out


def _drop_dominated(
    instance: LoansInstance,
    pools: list[Pool],
    arcs: list[Arc],
    by_request: list[list[int]],
    active: list[bool],
    congested: list[bool],
) -> int:
    """Drop arcs no better than a request's best *free* arc; return how many were dropped.

    A free arc's pool is never full and its lender's max_outgoing can never bind, so a
    loan on it at its earliest day fits next to any plan. Any plan that serves the request
    through a dearer arc can swap to it without loss (there is no balance rule here).
    """
    pen = instance.penalties
    requests = instance.requests
    potential: dict[str, set[int]] = defaultdict(set)
    for k, a in enumerate(arcs):
        if active[k]:
            potential[pools[a.pool].library].add(a.request)
    bounded = {
        x.id
        for x in instance.libraries
        if x.max_outgoing is not None and len(potential[x.id]) > x.max_outgoing
    }
    dropped = 0
    for q, mine in enumerate(by_request):
        live = [k for k in mine if active[k]]
        if len(live) < 2:
            continue
        rate = pen.late_per_day * requests[q].weight
        need = instance.day(requests[q].needed_by)

        def first_cost(k: int, rate: float = rate, need: int = need) -> float:
            a = arcs[k]
            return a.cost + rate * max(0, a.earliest + a.out_days - need)

        free = [
            k
            for k in live
            if not congested[arcs[k].pool] and pools[arcs[k].pool].library not in bounded
        ]
        if not free:
            continue
        best = min(free, key=lambda k: (first_cost(k), k))
        limit = first_cost(best)
        for k in live:
            if k != best and first_cost(k) >= limit:
                active[k] = False
                dropped += 1
    return dropped


def _ship_days(pool: Pool, arcs: list[Arc]) -> list[list[int]]:
    """The ship days worth considering for each arc of one pool.

    Shift any plan's loans left while the rules allow: a loan then ships on its earliest
    day, or on a day ``d`` such that the pool was full on ``d - 1`` and a competing loan came
    home or a copy was released on ``d``. The pool can only be full on a day when enough
    other requests could have a loan out then, which is what ``load`` counts. The days are
    closed under "a loan shipped on such a day comes home".
    """
    hi = max(a.last_useful for a in arcs)
    span = hi + max(a.busy for a in arcs) + 2
    # load[t]: arcs whose loan could be out on day t (each arc is its own request here).
    diff = np.zeros(span + 1, dtype=np.int64)
    for a in arcs:
        diff[a.earliest] += 1
        diff[min(span, a.last_useful + a.busy)] -= 1
    load = np.cumsum(diff)

    def may_wait_until(a: Arc, d: int) -> bool:
        if not a.earliest < d <= a.last_useful:
            return False
        mine = 1 if a.earliest <= d - 1 < a.last_useful + a.busy else 0
        return int(load[d - 1]) - mine >= pool.capacity(d - 1)

    events = {d for d in pool.releases if d <= hi}
    frontier = sorted({a.earliest for a in arcs} | events)
    while frontier:
        new: set[int] = set()
        for d in frontier:
            for a in arcs:
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
    for a in arcs:
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
