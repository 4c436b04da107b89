"""Plans for the courier model by best response: each request in turn takes, among its
candidate loans that fit next to all the others, the one that adds least to the objective
(handling, lateness, and the cost of every run it would be first to ride), or none at its
penalty. Each move lowers the objective by exactly what it saves, so the passes end.

It starts from any plan (the baseline's, the previous plan's, or none) and keeps every
hard rule throughout: run capacities, copies on the shelf, ``max_outgoing``,
``max_imbalance``. Re-planning, the frozen loans are placed first and never move.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict

import numpy as np

from optimizer.loans.courier_model import CourierCandidates

NONE = -1
# Perturbation rounds in a row without gain before the search stops early.
PERTURB_PATIENCE = 200


class Search:
    """The state of a plan over the candidates, with the counts every rule reads."""

    def __init__(self, cands: CourierCandidates):
        instance = cands.instance
        self.cands = cands
        n = len(cands)
        self.request = np.array(cands.request, dtype=np.int64)
        self.pool = np.array(cands.pool, dtype=np.int64)
        self.out_run = np.array(cands.out_run, dtype=np.int64)
        self.back_run = np.array(cands.back_run, dtype=np.int64)
        self.ship = np.array([d.day for d in cands.out], dtype=np.int64)
        self.home = np.array([d.arrive for d in cands.back], dtype=np.int64)
        self.cost = np.array(cands.cost, dtype=float)
        self.penalty = cands.penalties()
        lib = {x.id: i for i, x in enumerate(instance.libraries)}
        self.lender = np.array([lib[cands.pools[p][0]] for p in cands.pool], dtype=np.int64)
        self.borrower = np.array(
            [lib[instance.requests[q].library] for q in cands.request], dtype=np.int64
        )
        couriers = instance.couriers
        self.run_cost = np.array([couriers[k].cost_per_run for k, _ in cands.runs], dtype=float)
        self.run_cap = np.array([couriers[k].capacity for k, _ in cands.runs], dtype=np.int64)
        self.load = np.zeros(len(cands.runs), dtype=np.int64)
        self.max_out = np.array(
            [x.max_outgoing if x.max_outgoing is not None else n + 1 for x in instance.libraries]
        )
        self.lent = np.zeros(len(instance.libraries), dtype=np.int64)
        self.received = np.zeros(len(instance.libraries), dtype=np.int64)
        self.imbalance = instance.policies.max_imbalance
        keep_one = 1 if instance.policies.keep_one_on_shelf else 0
        self.releases = [
            sorted(instance.release_day(c) for c in copies) for _, _, copies in cands.pools
        ]
        self.keep_one = keep_one
        self.out_of_pool: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.choice = np.full(len(instance.requests), NONE, dtype=np.int64)
        self.offset = cands.change_constant
        self.total = float(self.penalty.sum()) + self.offset
        """The objective of the plan, kept up to date by ``place`` and ``remove``."""
        order = np.argsort(self.request, kind="stable")
        self.by_request = np.split(
            order, np.flatnonzero(np.diff(self.request[order])) + 1 if n else []
        )
        self.on_run: dict[int, list[int]] = defaultdict(list)
        for v in range(n):
            self.on_run[int(self.out_run[v])].append(v)
            self.on_run[int(self.back_run[v])].append(v)
        self.of_request: dict[int, np.ndarray] = {
            int(self.request[vs[0]]): vs for vs in self.by_request if len(vs)
        }
        self.fixed = frozenset(cands.forced)
        """Requests whose frozen loan is placed for good."""
        self.fixed_array = np.array(cands.forced, dtype=np.int64)
        self.fixed_fit = all([self._place_frozen(q) for q in cands.forced])
        """Whether the frozen loans keep run capacities, shelves and ``max_outgoing``
        together. Each is its request's only candidate and those rules only tighten as
        loans are added, so when they do not, no plan does."""

    def _place_frozen(self, q: int) -> bool:
        """Place request ``q``'s frozen loan; False when it breaks a rule with the frozen
        loans placed before it."""
        (v,) = self.of_request[q].tolist()
        lender = int(self.lender[v])
        fits = self.has_room(v) and self.lent[lender] < self.max_out[lender] and self.shelf_fits(v)
        self.place(v)
        return bool(fits)

    # ------------------------------------------------------------------ state

    def place(self, v: int) -> None:
        self.choice[self.request[v]] = v
        self.total += self.cost[v] - self.penalty[self.request[v]]
        for r in (self.out_run[v], self.back_run[v]):
            if self.load[r] == 0:
                self.total += self.run_cost[r]
            self.load[r] += 1
        self.lent[self.lender[v]] += 1
        self.received[self.borrower[v]] += 1
        self.out_of_pool[int(self.pool[v])].append((int(self.ship[v]), int(self.home[v])))

    def remove(self, v: int) -> None:
        self.choice[self.request[v]] = NONE
        self.total -= self.cost[v] - self.penalty[self.request[v]]
        for r in (self.out_run[v], self.back_run[v]):
            self.load[r] -= 1
            if self.load[r] == 0:
                self.total -= self.run_cost[r]
        self.lent[self.lender[v]] -= 1
        self.received[self.borrower[v]] -= 1
        self.out_of_pool[int(self.pool[v])].remove((int(self.ship[v]), int(self.home[v])))

    def objective(self) -> float:
        chosen = self.choice[self.choice >= 0]
        unfilled = self.choice < 0
        return float(
            self.cost[chosen].sum()
            + self.run_cost[self.load > 0].sum()
            + self.penalty[unfilled].sum()
            + self.offset
        )

    # ------------------------------------------------------------------ rules

    def shelf_fits(self, v: int) -> bool:
        """One more loan of the pool over [ship, home) leaves a copy for every loan out (and
        one on the shelf with keep_one_on_shelf) on every day: checked where the count can
        rise, the loan's ship day and the ship days of the others inside its span."""
        start, end = int(self.ship[v]), int(self.home[v])
        spans = self.out_of_pool.get(int(self.pool[v]), [])
        releases = self.releases[int(self.pool[v])]
        for t in [start, *(s for s, _ in spans if start < s < end)]:
            out = 1 + sum(1 for s, h in spans if s <= t < h)
            if out > bisect.bisect_right(releases, t) - self.keep_one:
                return False
        return True

    def has_room(self, v: int) -> bool:
        """Whether both runs of loan ``v`` can carry one more item."""
        return all(self.load[r] < self.run_cap[r] for r in (self.out_run[v], self.back_run[v]))

    def fits(self, v: int) -> bool:
        """Whether loan ``v`` can join the plan as it stands."""
        return self.has_room(v) and self.counts_fit(v) and self.shelf_fits(v)

    def keep_previous(self) -> int:
        """Re-planning: place each previous loan that can be kept, by ship day, on the first
        of its runs where it fits (frozen ones are placed already); returns how many."""
        placed = 0
        for v in sorted(self.cands.kept_copy, key=lambda v: (int(self.ship[v]), v)):
            q = int(self.request[v])
            if self.choice[q] == NONE and self.fits(v):
                self.place(v)
                placed += 1
        return placed

    def counts_fit(self, v: int) -> bool:
        lender, borrower = int(self.lender[v]), int(self.borrower[v])
        if self.lent[lender] >= self.max_out[lender]:
            return False
        if self.imbalance is None:
            return True
        # Every library, not only these two: the loan just removed may have moved others.
        net = self.lent - self.received
        net[lender] += 1
        net[borrower] -= 1
        return bool(np.all(np.abs(net) <= self.imbalance))

    def may_drop(self, q: int) -> bool:
        """Whether the request may go unfilled (its loan already removed): max_imbalance
        holds without it."""
        return self.imbalance is None or bool(
            np.all(np.abs(self.lent - self.received) <= self.imbalance)
        )

    # ------------------------------------------------------------------ moves

    def best_response(self, q: int, run_scale: float = 1.0) -> bool:
        """Give request ``q`` its cheapest fitting choice; True when that lowers the
        objective. With ``run_scale`` below 1, runs cost that share of their price to open:
        a plan is then not judged by its objective, which the passes at 1 restore."""
        current = int(self.choice[q])
        vs = self.of_request.get(q)
        if vs is None or q in self.fixed:
            return False
        if current != NONE:
            self.remove(current)
        price = self.run_cost * run_scale
        marginal = (
            self.cost[vs]
            + price[self.out_run[vs]] * (self.load[self.out_run[vs]] == 0)
            + price[self.back_run[vs]] * (self.load[self.back_run[vs]] == 0)
        )
        room = (self.load[self.out_run[vs]] < self.run_cap[self.out_run[vs]]) & (
            self.load[self.back_run[vs]] < self.run_cap[self.back_run[vs]]
        )
        before = (
            float(marginal[np.flatnonzero(vs == current)[0]])
            if current != NONE
            else float(self.penalty[q])
        )
        best, best_cost = NONE, float(self.penalty[q]) if self.may_drop(q) else np.inf
        for i in np.argsort(marginal, kind="stable").tolist():
            if marginal[i] >= best_cost - 1e-9:
                break
            v = int(vs[i])
            if v != current and not (room[i] and self.counts_fit(v) and self.shelf_fits(v)):
                continue
            best, best_cost = v, float(marginal[i])
            break
        if best_cost < before - 1e-9:
            if best != NONE:
                self.place(best)
            return True
        if current != NONE:
            self.place(current)
        return False

    def improve(
        self, deadline: float, seed: int = 0, run_scale: float = 1.0, max_passes: int = 1_000
    ) -> int:
        """Best-response passes over the requests in a seeded random order until one pass
        changes nothing, ``max_passes`` have run or ``deadline`` (a ``time.perf_counter``
        value) passes; returns the moves made."""
        rng = np.random.default_rng(seed)
        moves = 0
        requests = np.array(sorted(self.of_request), dtype=np.int64)
        for _ in range(max_passes):
            if time.perf_counter() > deadline:
                break
            changed = 0
            for q in rng.permutation(requests).tolist():
                if self.best_response(q, run_scale):
                    changed += 1
                if time.perf_counter() > deadline:
                    break
            moves += changed
            if not changed:
                break
        return moves

    def open_run(self, r: int) -> bool:
        """Open run ``r`` for every request that gains by riding it: each, by the gain of
        its best candidate on ``r`` (its other run's price counted unless open) over what
        it pays now, joins while the gains still cover the run; kept only when the
        objective falls, else undone."""
        before = self.total
        riders = self.on_run.get(r, [])
        gains: list[tuple[float, int]] = []
        for v in riders:
            q = int(self.request[v])
            if q in self.fixed:
                continue
            current = int(self.choice[q])
            now = self._pays(current, q)
            other = int(self.back_run[v]) if int(self.out_run[v]) == r else int(self.out_run[v])
            new = self.cost[v] + (self.run_cost[other] if self.load[other] == 0 else 0.0)
            if now - new > 1e-9:
                gains.append((float(now - new), v))
        if sum(g for g, _ in gains) <= self.run_cost[r] + 1e-9:
            return False
        gains.sort(reverse=True)
        undo: list[tuple[int, int]] = []
        taken: set[int] = set()
        for _, v in gains:
            q = int(self.request[v])
            if q in taken:
                continue
            current = int(self.choice[q])
            if current != NONE:
                self.remove(current)
            if self.fits(v):
                self.place(v)
                undo.append((q, current))
                taken.add(q)
            elif current != NONE:
                self.place(current)
        if self.total < before - 1e-9:
            return True
        for q, current in reversed(undo):
            self.remove(int(self.choice[q]))
            if current != NONE:
                self.place(current)
        return False

    def _pays(self, v: int, q: int) -> float:
        """What request ``q`` adds to the objective with loan ``v`` (or none): its costs and
        the runs it alone rides."""
        if v == NONE:
            return float(self.penalty[q])
        alone = sum(
            self.run_cost[r] for r in (self.out_run[v], self.back_run[v]) if self.load[r] == 1
        )
        return float(self.cost[v] + alone)

    def consolidate(self, deadline: float) -> int:
        """``open_run`` on every run some request could ride, fewest riders first skipped
        when open already; returns the runs opened."""
        opened = 0
        for r in sorted(self.on_run, key=lambda r: -len(self.on_run[r])):
            if time.perf_counter() > deadline:
                break
            if self.load[r] == 0 and self.open_run(r):
                opened += 1
        return opened

    def perturb(self, deadline: float, seed: int = 0) -> int:
        """Until ``deadline``, or ``PERTURB_PATIENCE`` rounds in a row without gain: take out
        every loan to or from one library drawn at random, let every request respond again,
        and keep the result when the objective fell (else put the plan back). Returns the
        rounds that improved it."""
        rng = np.random.default_rng(seed + 1)
        libraries = len(self.lent)
        requests = np.array(sorted(self.of_request), dtype=np.int64)
        better = stale = 0
        while time.perf_counter() < deadline and stale < PERTURB_PATIENCE:
            stale += 1
            before, saved = self.total, self.choice.copy()
            library = int(rng.integers(libraries))
            chosen = self.choice[self.choice >= 0]
            hit = chosen[(self.lender[chosen] == library) | (self.borrower[chosen] == library)]
            hit = hit[~np.isin(self.request[hit], self.fixed_array)]
            if not len(hit):
                continue
            for v in hit.tolist():
                self.remove(v)
            touched = rng.permutation(np.unique(self.request[hit]))
            for q in touched.tolist():
                self.best_response(q)
            rest = rng.permutation(requests)
            for q in rest.tolist():
                self.best_response(q)
                if time.perf_counter() > deadline:
                    break
            if self.total < before - 1e-9:
                better += 1
                stale = 0
                continue
            self.restore(saved)
        return better

    def restore(self, saved: np.ndarray) -> None:
        """Make the plan ``saved`` (a ``choice`` array: per request, its candidate or -1)."""
        differ = np.flatnonzero(self.choice != saved)
        for q in differ.tolist():
            if self.choice[q] != NONE:
                self.remove(int(self.choice[q]))
        for q in differ.tolist():
            if saved[q] != NONE:
                self.place(int(saved[q]))

    def selected(self) -> np.ndarray:
        return np.sort(self.choice[self.choice >= 0])
