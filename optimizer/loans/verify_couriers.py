"""Independent check of the courier rules of a loans solution (contract 7.7).

Written from the contract in calendar dates, without the model's timetable: a loan rides a
courier from its lender to its borrower on one of the courier's weekdays, with both
libraries open; it comes back on the first run from borrower to lender departing on or after
its due day; no run carries more than its capacity; ``runs`` lists exactly the runs the legs
ride, with their items and costs. Each violation starts with the rule it breaks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from optimizer.core.numbers import exact
from optimizer.loans.schema import Courier, LoansInstance, Request

TOLERANCE = 1e-6


def _parse(value: Any) -> date | None:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


class CourierCheck:
    """Collects each loan's legs, then checks the runs they ride."""

    def __init__(self, instance: LoansInstance):
        self.instance = instance
        self.couriers = {k.id: k for k in instance.couriers}
        self.libraries = {x.id: x for x in instance.libraries}
        closed = [d for x in instance.libraries for d in x.closed_dates]
        self.last_closed = max(closed, default=instance.horizon.start)
        self.by_pair: dict[tuple[str, str], list[Courier]] = defaultdict(list)
        for k in instance.couriers:
            self.by_pair[(k.from_, k.to)].append(k)
        self.violations: list[str] = []
        self.items: dict[tuple[str, date], int] = defaultdict(int)

    def open_on(self, library: str, day: date) -> bool:
        x = self.libraries[library]
        return day.isoweekday() not in x.closed_weekdays and day not in x.closed_dates

    def runs(self, k: Courier, day: date) -> bool:
        """Whether courier ``k`` runs on ``day``: a weekday of its, both ends open."""
        return (
            day.isoweekday() in k.weekdays
            and self.open_on(k.from_, day)
            and self.open_on(k.to, day + timedelta(days=k.days or 0))
        )

    def first_return(self, borrower: str, lender: str, due: date) -> tuple[date, Courier] | None:
        """The first run back departing on or after ``due``: earliest day, then earliest
        arrival, then the courier listed first."""
        # After the last closed date every week looks the same: a week past it is enough.
        limit = max(due, self.last_closed + timedelta(days=1)) + timedelta(days=7)
        day = due
        while day <= limit:
            best = self.first_run(borrower, lender, day)
            if best is not None:
                return day, best
            day += timedelta(days=1)
        return None

    def first_run(self, origin: str, destination: str, day: date) -> Courier | None:
        """Of the couriers from ``origin`` to ``destination`` running on ``day``, the one
        that arrives first, then the one listed first; None when none runs."""
        ways = self.by_pair.get((origin, destination), [])
        running = [k for k in ways if self.runs(k, day)]
        return min(running, key=lambda k: (k.days or 0, ways.index(k))) if running else None

    def loan(
        self, entry: dict[str, Any], r: Request, lender: str, ship: date
    ) -> tuple[date, date] | None:
        """Check the legs of one loan; return its arrival and home days, or None when its
        outbound leg is not a run at all."""
        rid, borrower = r.id, r.library
        k = self.couriers.get(entry.get("courier"))  # type: ignore[arg-type]
        if k is None:
            self.violations.append(
                f"courier: loan for {rid} names no courier of the instance "
                f"({entry.get('courier')!r})"
            )
            return None
        if (k.from_, k.to) != (lender, borrower):
            self.violations.append(
                f"courier: loan for {rid} rides {k.id}, which goes {k.from_} -> {k.to}, "
                f"not {lender} -> {borrower}"
            )
            return None
        arrive = ship + timedelta(days=k.days or 0)
        if ship.isoweekday() not in k.weekdays:
            self.violations.append(
                f"courier: loan for {rid} ships on {ship}, weekday {ship.isoweekday()}, "
                f"and {k.id} runs on weekdays {k.weekdays} only"
            )
        for library, day, what in ((lender, ship, "ships"), (borrower, arrive, "arrives")):
            if not self.open_on(library, day):
                self.violations.append(
                    f"closed day: loan for {rid} {what} on {day}, when {library} is closed"
                )
        self.items[(k.id, ship)] += 1
        due = arrive + timedelta(days=r.loan_days)
        first = self.first_return(borrower, lender, due)
        if first is None:
            self.violations.append(
                f"return leg: loan for {rid} has no courier run from {borrower} to {lender} "
                f"on or after {due}"
            )
            return arrive, due
        back_day, back = first
        home = back_day + timedelta(days=back.days or 0)
        given_day, given = _parse(entry.get("return_ship")), entry.get("return_courier")
        if (given_day, given) != (back_day, back.id):
            self.violations.append(
                f"return leg: loan for {rid} returns with {given} on {entry.get('return_ship')}, "
                f"but the first run back on or after {due} is {back.id} on {back_day}"
            )
        self.items[(back.id, back_day)] += 1
        return arrive, home

    def loan_cost(self) -> float:
        """Handling of the two legs: the ``cost`` each loan reports."""
        return 2 * self.instance.handling_cost

    def run_violations(self, solution: dict[str, Any]) -> list[str]:
        """Capacities, and the ``runs`` list against the runs the legs ride."""
        out = []
        for (kid, day), n in sorted(self.items.items()):
            cap = self.couriers[kid].capacity
            if n > cap:
                out.append(f"run capacity: {kid} on {day} carries {n} items, above {cap}")
        listed = solution.get("runs")
        if not isinstance(listed, list):
            return [*out, "runs list: the solution has no runs list"]
        seen: dict[tuple[Any, Any], dict[str, Any]] = {}
        for run in listed:
            key = (run.get("courier"), _parse(run.get("day")))
            if key in seen:
                out.append(f"runs list: {key[0]} on {run.get('day')} is listed twice")
            seen[key] = run
        for key, run in seen.items():
            carried: int | None = self.items.get(key)  # type: ignore[arg-type]
            if carried is None:
                out.append(f"runs list: {key[0]} on {run.get('day')} carries no leg of the plan")
                continue
            if run.get("items") != carried:
                out.append(
                    f"runs list: {key[0]} on {run.get('day')} reports {run.get('items')} items, "
                    f"not {carried}"
                )
            cost = self.couriers[key[0]].cost_per_run
            if not isinstance(run.get("cost"), int | float) or not abs(run["cost"] - cost) <= (
                TOLERANCE
            ):
                out.append(
                    f"runs list: {key[0]} on {run.get('day')} reports cost {run.get('cost')}, "
                    f"not {cost}"
                )
        for kid, day in self.items:
            if (kid, day) not in seen:
                out.append(f"runs list: {kid} on {day} carries legs of the plan but is not listed")
        return out

    def run_costs(self) -> list[Decimal]:
        """The cost of every run the legs ride, as the instance prices it."""
        return [exact(self.couriers[kid].cost_per_run) for kid, _ in self.items]


def frozen_couriers(
    instance: LoansInstance, previous: dict[str, Any], plan: dict[str, Any]
) -> list[str]:
    """Re-planning with couriers (7.7): a loan of ``previous`` shipped by ``options.now``
    and made again (same copy, lender and ship day) rides the courier it names, or without
    one the first run from its lender to its borrower that day (earliest arrival, then the
    courier listed first). A frozen loan changed otherwise is the shared path's to report."""
    now = instance.options.now
    if now is None or not instance.couriers:
        return []
    check = CourierCheck(instance)
    borrower = {r.id: r.library for r in instance.requests}
    after = {e.get("request"): e for e in plan.get("loans", [])}
    violations = []
    for loan in previous.get("loans", []):
        ship = _parse(loan.get("ship"))
        rid = loan.get("request")
        e = after.get(rid)
        if ship is None or ship > now.date() or e is None or rid not in borrower:
            continue
        same = (e.get("copy"), e.get("lender"), e.get("ship")) == (
            loan.get("copy"),
            loan.get("lender"),
            loan.get("ship"),
        )
        if not same:
            continue
        expected = loan.get("courier")
        if expected is None:
            first = check.first_run(loan.get("lender"), borrower[rid], ship)
            if first is None:
                continue  # the loan's own courier check reports a ship day with no run
            expected = first.id
        if e.get("courier") != expected:
            violations.append(
                f"frozen courier: {rid} shipped on {expected} on {ship} but rides "
                f"{e.get('courier')}"
            )
    return violations
