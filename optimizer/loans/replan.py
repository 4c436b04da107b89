"""Re-planning loans against ``previous``: which earlier loans the new instance can still
make, which of them are frozen, and why the others changed.

A previous loan is *kept* when its request is filled again by the same copy shipped on the
same day (contract 3.7). Copies of a pool are interchangeable in the model, so keeping is
worth ``change_penalty`` on one candidate loan: the previous copy's pool, the previous
lender→borrower arc, the previous ship day (``candidates``); naming the copies afterwards
gives that copy back to its request (``model.payload_from_selection``). Every previous loan
changed costs the penalty, so the model's objective offset carries penalty × (previous
loans) and each kept loan takes the penalty off again: the model's objective and bound are
the re-plan's, the kind's objective + penalty × (moved + dropped).

With couriers (contract 7.7) a loan rides a run that day: kept on any courier from its
lender to its borrower that runs on its ship day, frozen on the courier it shipped on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from optimizer.core.envelope import Options
from optimizer.core.plans import PlanDiff
from optimizer.loans.schema import Copy, LoansInstance, PlannedLoan
from optimizer.loans.timetable import Departure, Timetable


@dataclass(frozen=True)
class Keep:
    """A previous loan the new instance can still make exactly as it was."""

    request: int
    """Index into ``instance.requests``."""
    copy: Copy
    day: int
    """Ship day, from the horizon start."""
    frozen: bool
    courier: int | None = None
    """With couriers, the courier a frozen loan rides (index into ``instance.couriers``);
    None for a loan any courier running that day keeps."""


@dataclass
class Replan:
    """What the model needs to re-plan: the penalty, the loans it may keep, and the frozen
    loans it can no longer make (which leave no plan at all)."""

    penalty: float
    items: int
    """Loans of the previous plan (one per request), each costing the penalty unless kept."""
    keeps: list[Keep] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)
    """Frozen loans the instance cannot make any more: (request id, why)."""
    apart: frozenset[str] = frozenset()
    """Copies the model counts one by one, each a pool of its own (see ``model``)."""

    @property
    def change_constant(self) -> float:
        """The change cost of a plan that keeps nothing."""
        return self.penalty * self.items


def frozen_until(now: datetime | None) -> date | None:
    """The last ship day that ``now`` has passed: its own calendar date, the calendar the
    horizon's dates are written in. None without ``now``."""
    return None if now is None else now.date()


class _Lookup:
    """The instance's ids, routes and shelves, read once for many previous loans."""

    def __init__(self, instance: LoansInstance) -> None:
        self.instance = instance
        self.requests = {r.id: (q, r) for q, r in enumerate(instance.requests)}
        self.copies = {c.id: c for c in instance.copies}
        self.libraries = {x.id: x for x in instance.libraries}
        self.routes = instance.routes()
        self.table = Timetable(instance) if instance.couriers else None
        self.couriers = {k.id: i for i, k in enumerate(instance.couriers)}
        self.shelf: dict[tuple[str, str], list[int]] = defaultdict(list)
        for c in instance.copies:
            if c.lendable:
                self.shelf[(c.library, c.title)].append(instance.release_day(c))

    def obstacle(self, loan: PlannedLoan, frozen: bool = False) -> str | None:
        """What in the instance stops ``loan`` being made again as it was, or None; a
        ``frozen`` one with couriers also on the courier it shipped on."""
        instance = self.instance
        rid, cid, lender = loan.request, loan.copy_, loan.lender
        if rid not in self.requests:
            return f"request {rid} is no longer in the instance"
        if cid not in self.copies:
            return f"copy {cid} is no longer in the instance"
        if lender not in self.libraries:
            return f"library {lender} is no longer in the instance"
        _, r = self.requests[rid]
        c = self.copies[cid]
        if c.library != lender:
            return f"copy {cid} is now held by {c.library}, not {lender}"
        if not c.lendable:
            return f"copy {cid} is no longer lendable"
        if c.title not in r.titles:
            return f"request {rid} no longer accepts {c.title} (it asks for {', '.join(r.titles)})"
        if lender == r.library:
            return f"request {rid} now comes from {lender} itself"
        if self.table is None and (
            (lender, r.library) not in self.routes or (r.library, lender) not in self.routes
        ):
            return f"no shipping route links {lender} and {r.library} any more"
        day = instance.day(loan.ship)
        h = instance.horizon
        if not 0 <= day <= instance.last_day:
            return f"the ship day {loan.ship} is outside the horizon {h.start} to {h.end}"
        if day < instance.release_day(c):
            return f"copy {cid} is on the shelf only from {c.available_from}"
        if day < instance.open_day(r):
            return f"request {rid} is now made on {r.requested_on}, after the ship day {loan.ship}"
        if instance.policies.keep_one_on_shelf:
            released = sum(1 for d in self.shelf[(lender, c.title)] if d <= day)
            if released <= 1:
                return (
                    f"keep_one_on_shelf leaves {lender} no copy of {c.title} to lend on {loan.ship}"
                )
        if self.table is not None:
            return self._courier_obstacle(loan, r.library, frozen)
        return None

    def _courier_obstacle(self, loan: PlannedLoan, borrower: str, frozen: bool) -> str | None:
        """With couriers: no run out on the ship day (on its own courier, when frozen), or
        no run back."""
        lender, ship = loan.lender, loan.ship
        runs = self.departures(loan.lender, borrower, self.instance.day(ship))
        if not runs:
            return self._no_run(loan, borrower)
        if frozen and loan.courier is not None:
            if loan.courier not in self.couriers:
                return f"courier {loan.courier} is no longer in the instance"
            runs = [d for d in runs if d.courier == self.couriers[loan.courier]]
            if not runs:
                return (
                    f"courier {loan.courier} no longer runs from {lender} to {borrower} on {ship}"
                )
        if self._return(loan.request, lender, runs[0]) is None:
            return f"no courier runs back from {borrower} to {lender} after the loan"
        return None

    def _no_run(self, loan: PlannedLoan, borrower: str) -> str:
        """Why no courier runs from the lender to ``borrower`` on the loan's ship day: none
        goes that way any more, none leaves on that weekday, or a library is closed."""
        lender, ship = loan.lender, loan.ship
        going = [k for k in self.instance.couriers if (k.from_, k.to) == (lender, borrower)]
        leaving = [k for k in going if ship.isoweekday() in k.weekdays]
        no_run = f"no courier runs from {lender} to {borrower}"
        if not going:
            return f"{no_run} any more"
        if not leaving:
            return f"{no_run} on {ship}, a {ship.strftime('%A')}"
        if not self.libraries[lender].is_open(ship):
            return f"{no_run} on {ship}: {lender} is closed that day"
        k = leaving[0]
        arrive = ship + timedelta(days=k.days or 0)
        return f"{no_run} on {ship}: {borrower} is closed on {arrive}, when {k.id} would arrive"

    def frozen_courier(self, loan: PlannedLoan) -> int | None:
        """With couriers, the courier a frozen loan rides: the one it names, else the first
        run out that day (earliest arrival, then the courier listed first). None without
        couriers."""
        if self.table is None:
            return None
        if loan.courier is not None:
            return self.couriers[loan.courier]
        _, r = self.requests[loan.request]
        return self.departures(loan.lender, r.library, self.instance.day(loan.ship))[0].courier

    def departures(self, lender: str, borrower: str, day: int) -> list[Departure]:
        assert self.table is not None
        return self.table.departures(lender, borrower, day, day)

    def _return(self, request: str, lender: str, out: Departure) -> Departure | None:
        assert self.table is not None
        _, r = self.requests[request]
        return self.table.return_run(r.library, lender, out.arrive + r.loan_days)

    def home(
        self, request: str, lender: str, ship: date, courier: str | None = None
    ) -> date | None:
        """The day a copy of ``lender`` lent to ``request`` on ``ship`` comes home (it is
        busy until then): by the shipping routes, or with couriers by the run out that day
        (``courier``'s when it runs) and its return run. None when the loan cannot be made."""
        if request not in self.requests:
            return None
        _, r = self.requests[request]
        if self.table is None:
            there, back = self.routes.get((lender, r.library)), self.routes.get((r.library, lender))
            if there is None or back is None:
                return None
            return ship + timedelta(days=there.days + r.loan_days + back.days)
        runs = self.departures(lender, r.library, self.instance.day(ship))
        if not runs:
            return None
        mine = [d for d in runs if courier is not None and d.courier == self.couriers.get(courier)]
        run_back = self._return(request, lender, (mine or runs)[0])
        if run_back is None:
            return None
        return self.instance.horizon.start + timedelta(days=run_back.arrive)


def plan_replan(instance: LoansInstance, options: Options) -> Replan | None:
    """The re-planning data of ``instance`` under ``options``, or None for a fresh plan."""
    previous = instance.previous
    if previous is None or previous.loans is None:
        return None
    until = frozen_until(options.now)
    lookup = _Lookup(instance)
    replan = Replan(options.change_penalty, len({loan.request for loan in previous.loans}))
    # Frozen loans first, then by ship day: a copy is kept for the first of two previous
    # loans that now overlap on it (their request's loan period or a route may have grown).
    ordered = sorted(
        previous.loans, key=lambda loan: (not _frozen(loan, until), loan.ship, loan.request)
    )
    taken: dict[str, list[tuple[date, date, str]]] = defaultdict(list)
    for loan in ordered:
        frozen = _frozen(loan, until)
        why = lookup.obstacle(loan, frozen)
        if why is None:
            end = lookup.home(loan.request, loan.lender, loan.ship, loan.courier)
            assert end is not None  # the obstacle check found the way there and back
            clash = [o for s, e, o in taken[loan.copy_] if s < end and loan.ship < e]
            if clash:
                why = f"copy {loan.copy_} is kept for request {clash[0]} over the same days"
            else:
                taken[loan.copy_].append((loan.ship, end, loan.request))
        if why is not None:
            if frozen:
                replan.lost.append((loan.request, why))
            continue
        q, _ = lookup.requests[loan.request]
        day = instance.day(loan.ship)
        courier = lookup.frozen_courier(loan) if frozen else None
        replan.keeps.append(Keep(q, lookup.copies[loan.copy_], day, frozen, courier))
    replan.lost.sort()
    return replan


def _frozen(loan: PlannedLoan, until: date | None) -> bool:
    return until is not None and loan.ship <= until


def frozen(instance: LoansInstance, previous: dict[str, Any]) -> set[str]:
    """Loans of ``previous`` that ship on or before the date of ``options.now``: they have
    left (or leave today) and must stay as they are."""
    until = frozen_until(instance.options.now)
    if until is None:
        return set()
    return {
        loan["request"]
        for loan in previous.get("loans", [])
        if date.fromisoformat(loan["ship"]) <= until
    }


def change_reasons(instance: LoansInstance, changes: PlanDiff) -> dict[str, str]:
    """Why a previous loan was moved or dropped, where the new instance forces it: its
    request, copy or lender gone, the copy moved or no longer lendable, the request no
    longer taking its title, the route gone, the dates no longer fitting, the lender's
    max_outgoing now below the loans it shipped, or the copy now serving another request
    over those days."""
    if instance.previous is None or instance.previous.loans is None:
        return {}
    lookup = _Lookup(instance)
    loans = {loan.request: loan for loan in instance.previous.loans}
    shipped = Counter(loan.lender for loan in instance.previous.loans)
    # The new plan's loans by copy: kept ones as they were, moved and added ones as now.
    after: dict[str, dict[str, Any]] = {item: _value(loans[item]) for item in changes.kept_items}
    after.update({m.item: m.after for m in changes.moved_items})
    after.update({a.item: a.value for a in changes.added_items})
    by_copy: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for item, value in after.items():
        by_copy[value["copy"]].append((item, value))
    reasons: dict[str, str] = {}
    given_up = [m.item for m in changes.moved_items] + [d.item for d in changes.dropped_items]
    for item in given_up:
        loan = loans.get(item)
        if loan is None:
            continue
        why = lookup.obstacle(loan)
        if why is None:
            cap = lookup.libraries[loan.lender].max_outgoing
            if cap is not None and shipped[loan.lender] > cap:
                why = (
                    f"{loan.lender} now ships at most {cap} loans, fewer than the "
                    f"{shipped[loan.lender]} of the previous plan"
                )
        if why is None:
            why = _copy_taken(lookup, loan, by_copy.get(loan.copy_, []))
        if why is not None:
            reasons[item] = why
    return reasons


def _value(loan: PlannedLoan) -> dict[str, Any]:
    """A kept loan as the reasons read it: its item, and the courier it rode."""
    value = {"lender": loan.lender, "copy": loan.copy_, "ship": loan.ship.isoformat()}
    return value | ({"courier": loan.courier} if loan.courier else {})


def _copy_taken(
    lookup: _Lookup, loan: PlannedLoan, users: list[tuple[str, dict[str, Any]]]
) -> str | None:
    """The request that now holds the copy over the days ``loan`` needed it, if any."""
    start = loan.ship
    end = lookup.home(loan.request, loan.lender, start, loan.courier)
    if end is None:
        return None
    for other, value in sorted(users, key=lambda u: u[1]["ship"]):
        if other == loan.request:
            continue
        ship = date.fromisoformat(value["ship"])
        home = lookup.home(other, value["lender"], ship, value.get("courier"))
        if home is not None and ship < end and start < home:
            return f"copy {loan.copy_} now serves request {other}, shipped on {value['ship']}"
    return None
