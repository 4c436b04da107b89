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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from optimizer.core.envelope import Options
from optimizer.core.plans import PlanDiff
from optimizer.loans.schema import Copy, LoansInstance, PlannedLoan


@dataclass(frozen=True)
class Keep:
    """A previous loan the new instance can still make exactly as it was."""

    request: int
    """Index into ``instance.requests``."""
    copy: Copy
    day: int
    """Ship day, from the horizon start."""
    frozen: bool


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
        self.shelf: dict[tuple[str, str], list[int]] = defaultdict(list)
        for c in instance.copies:
            if c.lendable:
                self.shelf[(c.library, c.title)].append(instance.release_day(c))

    def obstacle(self, loan: PlannedLoan) -> str | None:
        """What in the instance stops ``loan`` being made again as it was, or None."""
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
        if (lender, r.library) not in self.routes or (r.library, lender) not in self.routes:
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
        return None

    def busy_days(self, request: str, lender: str) -> int | None:
        """Days a copy of ``lender`` is away for ``request``, or None without a route."""
        if request not in self.requests:
            return None
        _, r = self.requests[request]
        there, back = self.routes.get((lender, r.library)), self.routes.get((r.library, lender))
        if there is None or back is None:
            return None
        return there.days + r.loan_days + back.days


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
        why = lookup.obstacle(loan)
        if why is None:
            busy = lookup.busy_days(loan.request, loan.lender)
            assert busy is not None  # the obstacle check found the route
            end = loan.ship + timedelta(days=busy)
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
        replan.keeps.append(Keep(q, lookup.copies[loan.copy_], day, frozen))
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
    return {"lender": loan.lender, "copy": loan.copy_, "ship": loan.ship.isoformat()}


def _copy_taken(
    lookup: _Lookup, loan: PlannedLoan, users: list[tuple[str, dict[str, Any]]]
) -> str | None:
    """The request that now holds the copy over the days ``loan`` needed it, if any."""
    mine = lookup.busy_days(loan.request, loan.lender)
    if mine is None:
        return None
    start = loan.ship
    end = start + timedelta(days=mine)
    for other, value in sorted(users, key=lambda u: u[1]["ship"]):
        if other == loan.request:
            continue
        busy = lookup.busy_days(other, value["lender"])
        ship = date.fromisoformat(value["ship"])
        if busy is not None and ship < end and start < ship + timedelta(days=busy):
            return f"copy {loan.copy_} now serves request {other}, shipped on {value['ship']}"
    return None
