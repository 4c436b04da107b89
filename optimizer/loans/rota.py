"""The ranked-lender baseline (``solver: rota``): how ILL systems pick lenders today.

Requests are taken one at a time in list order. Each takes, among the copies it may
borrow, the one that can ship first without breaking a rule, ranked by earliest arrival,
then lowest shipping cost, then the lender with the fewest loans so far. Nothing is ever
revised, and a request is filled whenever any copy can serve it, whatever it costs.

Re-planning, the baseline knows only what has shipped: the frozen loans of the previous
plan are placed first, as they were; the rest of the previous plan is ignored (its change
cost is still counted on the shared path).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from optimizer.loans.candidates import loan_entry
from optimizer.loans.courier_model import courier_loan_entry, courier_plan
from optimizer.loans.replan import Keep
from optimizer.loans.schema import Copy, LoansInstance
from optimizer.loans.timetable import Departure, Timetable


class Ledger:
    """Loans placed so far: busy spans per copy, counts per library."""

    def __init__(self, instance: LoansInstance):
        self.instance = instance
        self.busy: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lent: dict[str, int] = defaultdict(int)
        self.received: dict[str, int] = defaultdict(int)
        self.max_out = {x.id: x.max_outgoing for x in instance.libraries}
        self.shelf: dict[tuple[str, str], list[Copy]] = defaultdict(list)
        for c in instance.copies:
            if c.lendable:
                self.shelf[(c.library, c.title)].append(c)

    def copy_free(self, c: Copy, start: int, end: int) -> bool:
        return all(end <= s or h <= start for s, h in self.busy[c.id])

    def next_free(self, c: Copy, start: int, end: int) -> int | None:
        """The first day after ``start`` when a span clashing with [start, end) ends."""
        clash = [h for s, h in self.busy[c.id] if not (end <= s or h <= start)]
        return max(clash) if clash else None

    def shelf_ok(self, c: Copy, start: int, end: int) -> bool:
        """keep_one_on_shelf: some other released, free copy stays home on every day."""
        if not self.instance.policies.keep_one_on_shelf:
            return True
        others = [o for o in self.shelf[(c.library, c.title)] if o.id != c.id]
        for day in range(start, end):
            if not any(
                self.instance.release_day(o) <= day
                and all(not (s <= day < h) for s, h in self.busy[o.id])
                for o in others
            ):
                return False
        return True

    def counts_ok(self, lender: str, borrower: str) -> bool:
        cap = self.max_out[lender]
        if cap is not None and self.lent[lender] >= cap:
            return False
        k = self.instance.policies.max_imbalance
        if k is None:
            return True
        return (
            abs(self.lent[lender] + 1 - self.received[lender]) <= k
            and abs(self.received[borrower] + 1 - self.lent[borrower]) <= k
        )

    def place(self, c: Copy, borrower: str, start: int, end: int) -> None:
        self.busy[c.id].append((start, end))
        self.lent[c.library] += 1
        self.received[borrower] += 1


def earliest_ship(ledger: Ledger, c: Copy, first: int, last: int, busy: int) -> int | None:
    """The first day in [first, last] on which ``c`` can ship for ``busy`` days."""
    day = first
    while day <= last:
        if not ledger.copy_free(c, day, day + busy):
            nxt = ledger.next_free(c, day, day + busy)
            day = max(day + 1, nxt or day + 1)
            continue
        if ledger.shelf_ok(c, day, day + busy):
            return day
        day += 1
    return None


def solve_rota(instance: LoansInstance, keeps: Sequence[Keep] = ()) -> dict[str, Any]:
    """Fill requests in list order with the best-ranked copy available to each, after the
    frozen loans among ``keeps``.

    Copies of one title at one library share route, cost and lender, so they differ only in
    the day they can ship; each such pool is looked at once per request. A copy never lent
    so far ships on its release day (or the request's first day) without a search of its
    calendar; with keep_one_on_shelf, whether a copy may go depends on the others, so every
    copy's calendar is searched. Ties go as when every copy is looked at in list order.
    """
    routes = instance.routes()
    last = instance.last_day
    ledger = Ledger(instance)
    keep_one = instance.policies.keep_one_on_shelf
    # Per title, its pools in order of first listing; per pool, (release, listing order, copy).
    pools: dict[str, dict[str, list[tuple[int, int, Copy]]]] = defaultdict(dict)
    for k, c in enumerate(instance.copies):
        if c.lendable:
            pools[c.title].setdefault(c.library, []).append((instance.release_day(c), k, c))
    earliest = {
        (title, library): min(m[0] for m in members)
        for title, by_library in pools.items()
        for library, members in by_library.items()
    }
    loans = []
    unfilled = []
    placed: set[int] = set()
    for keep in keeps:
        if not keep.frozen:
            continue
        r = instance.requests[keep.request]
        leg, home = routes[(keep.copy.library, r.library)], routes[(r.library, keep.copy.library)]
        ledger.place(keep.copy, r.library, keep.day, keep.day + leg.days + r.loan_days + home.days)
        loans.append(
            loan_entry(instance, keep.request, keep.copy, keep.day, leg.days, home.days, leg.cost)
        )
        placed.add(keep.request)
    for q, r in enumerate(instance.requests):
        if q in placed:
            continue
        best: tuple[Any, ...] | None = None
        open_day = instance.open_day(r)
        for place, title in enumerate(dict.fromkeys(r.titles)):
            for library, members in pools.get(title, {}).items():
                there, back = routes.get((library, r.library)), routes.get((r.library, library))
                if library == r.library or there is None or back is None:
                    continue
                if not ledger.counts_ok(library, r.library):
                    continue
                if (
                    best is not None
                    and max(open_day, earliest[title, library]) + there.days > (best[0][0][0])
                ):
                    continue  # arrives later than the best so far whatever copy it lends
                busy = there.days + r.loan_days + back.days
                found: tuple[int, int, Copy] | None = None  # (day, listing order, copy)
                for release, order, c in members:
                    first = max(open_day, release)
                    if not keep_one and not ledger.busy.get(c.id):
                        day: int | None = first if first <= last else None  # free all along
                    else:
                        day = earliest_ship(ledger, c, first, last, busy)
                    if day is not None and (found is None or (day, order) < found[:2]):
                        found = (day, order, c)
                if found is None:
                    continue
                day, order, c = found
                rank = (day + there.days, there.cost, ledger.lent[library], library)
                # Ties go to the title asked for first, then the copy listed first.
                key = (rank, place, order)
                if best is None or key < best[0]:
                    best = (key, c, day, there, back, busy)
        if best is None:
            unfilled.append(r.id)
            continue
        _, c, day, there, back, busy = best
        ledger.place(c, r.library, day, day + busy)
        loans.append(loan_entry(instance, q, c, day, there.days, back.days, there.cost))
    loans.sort(key=lambda e: (e["ship"], e["lender"], e["request"]))
    return {"loans": loans, "unfilled": unfilled}


def solve_rota_couriers(instance: LoansInstance, keeps: Sequence[Keep] = ()) -> dict[str, Any]:
    """The same ranked lenders with courier runs (contract 7.7), after the frozen loans
    among ``keeps`` (each on its courier): each request, in list order,
    takes the copy that arrives first, riding the first run out on which the copy is free
    and both the run out and the run back have room; ties go to the cheaper courier run,
    then the lender with the fewest loans so far, the title asked for first and the copy
    listed first. The plan is costed as any other: runs used and handling.

    A pool whose first run out (from its first copy's release) arrives after the best
    arrival found so far cannot win, so pools are looked at in order of that arrival and
    the search stops at the first that arrives later."""
    table = Timetable(instance)
    last = instance.last_day
    ledger = Ledger(instance)
    load: dict[tuple[int, int], int] = defaultdict(int)
    pools: dict[str, dict[str, list[tuple[int, Copy]]]] = defaultdict(dict)
    for k, c in enumerate(instance.copies):
        if c.lendable:
            pools[c.title].setdefault(c.library, []).append((k, c))
    schedule: dict[tuple[str, str], tuple[list[int], list[Departure], list[int]]] = {}

    def runs_between(a: str, b: str) -> tuple[list[int], list[Departure], list[int]]:
        """Runs from ``a`` to ``b`` in the horizon, their days, and the soonest arrival of
        the runs from each on."""
        if (a, b) not in schedule:
            deps = table.departures(a, b, 0, last)
            soonest = [d.arrive for d in deps]
            for i in range(len(soonest) - 2, -1, -1):
                soonest[i] = min(soonest[i], soonest[i + 1])
            schedule[(a, b)] = ([d.day for d in deps], deps, soonest)
        return schedule[(a, b)]

    def room(k: int, day: int) -> bool:
        return load[(k, day)] < instance.couriers[k].capacity

    loans = []
    placed: set[int] = set()
    for keep in keeps:
        if not keep.frozen:
            continue
        r = instance.requests[keep.request]
        lender = keep.copy.library
        (out,) = [
            d
            for d in table.departures(lender, r.library, keep.day, keep.day)
            if d.courier == keep.courier
        ]
        back = table.return_run(r.library, lender, out.arrive + r.loan_days)
        assert back is not None  # ``replan`` checked the way back
        ledger.place(keep.copy, r.library, out.day, back.arrive)
        load[(out.courier, out.day)] += 1
        load[back_key(back)] += 1
        loans.append(courier_loan_entry(instance, keep.request, keep.copy, out, back))
        placed.add(keep.request)
    for q, r in enumerate(instance.requests):
        if q in placed:
            continue
        best: tuple[Any, ...] | None = None
        open_day = instance.open_day(r)
        reachable = []
        for place, title in enumerate(dict.fromkeys(r.titles)):
            for library, members in pools.get(title, {}).items():
                if library == r.library or not table.serves(r.library, library):
                    continue
                days, deps, arrivals = runs_between(library, r.library)
                first = max(open_day, min(instance.release_day(c) for _, c in members))
                at = bisect.bisect_left(days, first)
                if at < len(deps):
                    reachable.append((arrivals[at], place, library, members, days, deps))
        reachable.sort(key=lambda x: x[0])
        for soonest, place, library, members, days, deps in reachable:
            if best is not None and soonest > best[0][0][0]:
                break
            if not ledger.counts_ok(library, r.library):
                continue
            for order, c in members:
                first = max(open_day, instance.release_day(c))
                for out in deps[bisect.bisect_left(days, first) :]:
                    if best is not None and out.day > best[0][0][0]:
                        break  # later departures arrive later than the best, whatever the courier
                    back = table.return_run(r.library, library, out.arrive + r.loan_days)
                    if back is None or not (room(out.courier, out.day) and room(*back_key(back))):
                        continue
                    if not ledger.copy_free(c, out.day, back.arrive):
                        continue
                    if not ledger.shelf_ok(c, out.day, back.arrive):
                        continue
                    rank = (
                        out.arrive,
                        instance.couriers[out.courier].cost_per_run,
                        ledger.lent[library],
                        library,
                    )
                    key = (rank, place, order)
                    if best is None or key < best[0]:
                        best = (key, c, out, back)
                    break
        if best is None:
            continue
        _, c, out, back = best
        ledger.place(c, r.library, out.day, back.arrive)
        load[(out.courier, out.day)] += 1
        load[back_key(back)] += 1
        loans.append(courier_loan_entry(instance, q, c, out, back))
    return courier_plan(instance, loans)


def back_key(run: Any) -> tuple[int, int]:
    """The (courier, day) key of a run."""
    return (run.courier, run.day)
