"""Candidate loans: each arc (see ``arcs``) with the ship days worth considering.

A *candidate* is an arc with a ship day. Shipping later only adds lateness, so a ship day
is worth considering only if it is the arc's earliest, or the day a competing loan of the
same pool comes home, or the day another copy of the pool is released: any optimal plan
can be shifted left until each loan sits on one of those days. The days are closed under
"comes home" per pool; a cap on days per arc keeps the model small, and when it cuts,
the model is marked inexact and no bound is claimed by the MIP.

Large instances start from a *restricted* model instead: each request's cheapest arcs on
their earliest day, and column generation (``colgen``) prices in the other arcs and days.

A re-plan (``replan``) adds the loans of the previous plan that can still be made, each on
its arc and previous ship day, in every model: they cost ``change_penalty`` less than the
same loan made anew (and a frozen one is the only loan its request may have).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

import numpy as np

from optimizer.loans.arcs import Arc, ArcTable, Pool, build_arcs, build_pools, segments
from optimizer.loans.replan import Keep, Replan
from optimizer.loans.schema import Copy, LoansInstance

# Ship days kept per arc; beyond it the candidate set (and so any bound) is no longer exact.
MAX_DAYS_PER_ARC = 64


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
    keep_arc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    keep_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Re-planning: the candidate loan (arc, ship day) of each previous loan that can be
    kept; ``keeps`` says which copy, and whether it is frozen."""
    keeps: list[Keep] = field(default_factory=list)
    keep_bonus_value: float = 0.0
    """What keeping a previous loan saves: the change penalty."""
    change_constant: float = 0.0
    """The change cost of keeping nothing: penalty × loans of the previous plan."""

    def keep_bonus(self, arc: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The change penalty for each (arc, day) that keeps a previous loan, else 0."""
        out = np.zeros(len(arc))
        if len(self.keep_arc) and len(arc):
            span = self.horizon + 1
            codes = self.keep_arc * span + self.keep_day
            out[np.isin(arc * span + day, codes)] = self.keep_bonus_value
        return out

    def loan_cost(self, arc: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Shipping cost plus the weighted lateness of shipping each ``arc`` on its ``day``,
        less the change penalty where that keeps a previous loan."""
        a = self.arcs
        q = a.request[arc]
        late = np.maximum(0, day + a.out_days[arc] - self.need[q])
        cost = a.cost[arc] + self.late_rate[q] * late
        if len(self.keep_arc):
            cost = cost - self.keep_bonus(arc, day)
        return cost

    def keep_vars(self) -> np.ndarray:
        """Per keep, the index of its candidate loan (-1 where it is not in the model)."""
        span = self.horizon + 1
        codes = self.var_arc * span + self.var_day
        if not len(codes):
            return np.full(len(self.keep_arc), -1, dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        wanted = self.keep_arc * span + self.keep_day
        at = np.searchsorted(codes[order], wanted)
        found = (at < len(codes)) & (codes[order][np.minimum(at, len(codes) - 1)] == wanted)
        return np.where(found, order[np.minimum(at, max(len(codes) - 1, 0))], -1)

    def forced(self) -> np.ndarray:
        """Per candidate loan: whether it keeps a frozen previous loan (it must be chosen)."""
        out = np.zeros(len(self.var_arc), dtype=bool)
        if any(k.frozen for k in self.keeps):
            at = self.keep_vars()
            frozen = np.array([k.frozen for k in self.keeps], dtype=bool)
            out[at[frozen & (at >= 0)]] = True
        return out

    def var_request(self) -> np.ndarray:
        return self.arcs.request[self.var_arc]

    def var_pool(self) -> np.ndarray:
        return self.arcs.pool[self.var_arc]

    @property
    def total_penalty(self) -> float:
        return float(self.penalty.sum())

    @property
    def offset(self) -> float:
        """The objective of choosing no loan: every request's penalty, and every previous
        loan's change cost."""
        return self.total_penalty + self.change_constant

    def __len__(self) -> int:
        return len(self.var_arc)


def build_candidates(
    instance: LoansInstance,
    *,
    max_days: int = MAX_DAYS_PER_ARC,
    max_arcs: int | None = None,
    restrict_above: int | None = None,
    deadline: float | None = None,
    replan: Replan | None = None,
) -> Candidates:
    """Candidate loans. With ``max_arcs`` (and more than ``restrict_above`` live arcs, when
    given) the model is *restricted*: only each request's ``max_arcs`` cheapest arcs, each
    on its earliest day, and the pricing brings in the rest. A model where no copy can be
    lent twice is never restricted: it is an assignment, solved whole. Past ``deadline`` (a
    ``time.perf_counter`` value) the build stops refining: no second dominance pass, and
    each arc keeps only its earliest day (the model is then inexact). With ``replan``, the
    loans of the previous plan that can be kept are candidates in every case."""

    def late() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    pools = build_pools(instance, replan.apart if replan is not None else ())
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
    pinned: dict[int, int] = {}
    if replan is not None:
        pinned = _add_keeps(cands, replan)
    live = cands.live
    if instance.policies.max_imbalance is None:
        for turn in range(2):
            if turn and late():
                break
            congested = _congested_pools(pools, arcs, live)
            cands.dominated += _drop_dominated(instance, cands, live, congested)
    if pinned:
        # A kept loan is worth more than the same loan made anew: no other arc dominates it.
        # A frozen one is the only loan its request may have.
        forced = [k.request for k in cands.keeps if k.frozen]
        live[np.isin(arcs.request, forced)] = False
        live[cands.keep_arc] = True
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
        if pinned:
            _add_keep_vars(cands)
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
            # Never full: no loan ever waits, each ships on its earliest day (a kept loan
            # on its previous day too).
            var_arc.append(group)
            var_day.append(arcs.earliest[group])
            later = [
                k for k in group.tolist() if pinned.get(k, arcs.earliest[k]) > arcs.earliest[k]
            ]
            var_arc.append(np.array(later, dtype=np.int64))
            var_day.append(np.array([pinned[k] for k in later], dtype=np.int64))
            continue
        days_of = _ship_days(pools[p], arcs, group, pinned)
        for k, days in zip(group.tolist(), days_of, strict=True):
            if len(days) > max_days:
                cands.exact = False
                days = days[:max_days]
                if k in pinned and pinned[k] not in days:
                    days.append(pinned[k])
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


def _add_keeps(cands: Candidates, replan: Replan) -> dict[int, int]:
    """Find the arc of each previous loan that can be kept, make sure its previous ship day
    counts as useful, and record the keeps on ``cands``. Returns arc -> previous ship day."""
    arcs = cands.arcs
    pool_of = {c.id: p.index for p in cands.pools for c in p.copies}
    pinned: dict[int, int] = {}
    keeps: list[Keep] = []
    for keep in replan.keeps:
        p = pool_of.get(keep.copy.id)
        lo = int(np.searchsorted(arcs.request, keep.request, side="left"))
        hi = int(np.searchsorted(arcs.request, keep.request, side="right"))
        at = np.flatnonzero(arcs.pool[lo:hi] == p) if p is not None else np.zeros(0, dtype=int)
        if not len(at):
            continue  # ``replan`` checked the rules a loan needs; this arc is one of them
        k = lo + int(at[0])
        if keep.day < arcs.earliest[k]:
            continue
        pinned[k] = keep.day
        keeps.append(keep)
        # The previous day may be later than a fresh loan would ever wait: with the change
        # penalty it can still pay.
        arcs.last_useful[k] = max(int(arcs.last_useful[k]), keep.day)
        cands.live[k] = True
    cands.keeps = keeps
    cands.keep_arc = np.array(list(pinned), dtype=np.int64)
    cands.keep_day = np.array(list(pinned.values()), dtype=np.int64)
    cands.keep_bonus_value = replan.penalty
    cands.change_constant = replan.change_constant
    return pinned


def _add_keep_vars(cands: Candidates) -> None:
    """The restricted model: each kept loan's candidate, if the cheapest arcs left it out;
    every candidate's cost with the change penalty of a kept loan taken off."""
    missing = cands.keep_vars() < 0
    cands.var_arc = np.concatenate([cands.var_arc, cands.keep_arc[missing]])
    cands.var_day = np.concatenate([cands.var_day, cands.keep_day[missing]])
    cands.var_cost = cands.loan_cost(cands.var_arc, cands.var_day)


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


def _ship_days(
    pool: Pool, arcs: ArcTable, members: np.ndarray, pinned: dict[int, int] | None = None
) -> list[list[int]]:
    """The ship days worth considering for each arc (``members``) of one pool.

    Shift any plan's loans left while the rules allow: a loan then ships on its earliest
    day, or on a day ``d`` such that the pool was full on ``d - 1`` and a competing loan came
    home or a copy was released on ``d``. The pool can only be full on a day when enough
    other requests could have a loan out then, which is what ``load`` counts. The days are
    closed under "a loan shipped on such a day comes home".

    A kept previous loan (``pinned``: arc -> its previous day) does not move left: its day
    is a candidate, and the day it comes home an event, like an earliest day.
    """
    pinned = pinned or {}
    keys = members.tolist()
    mine = [arcs[k] for k in keys]
    pin = [pinned.get(k) for k in keys]
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
    frontier = sorted({a.earliest for a in mine} | {d for d in pin if d is not None} | events)
    while frontier:
        new: set[int] = set()
        for d in frontier:
            for a, kept in zip(mine, pin, strict=True):
                if d in (a.earliest, kept) or (d in events and may_wait_until(a, d)):
                    home = d + a.busy
                    # A home day may also be some arc's earliest day: it still becomes an
                    # event, so that the other arcs may wait until it.
                    if home <= hi and home not in events:
                        new.add(home)
        events |= new
        frontier = sorted(new)
    ordered = sorted(events)
    out = []
    for a, kept in zip(mine, pin, strict=True):
        lo = bisect.bisect_right(ordered, a.earliest)
        top = bisect.bisect_right(ordered, a.last_useful)
        days = [a.earliest] + [d for d in ordered[lo:top] if may_wait_until(a, d)]
        if kept is not None and kept not in days:
            days = sorted([*days, kept])
        out.append(days)
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
