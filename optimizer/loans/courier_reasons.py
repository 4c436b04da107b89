"""Why an unfilled request got no copy when loans ride courier runs (contracts 7.7, 7.9).

After the clauses every plan shares (no copy, not lendable, no route, no courier, not in
the horizon), a title's clause reads the plan's runs: a loan costs its handling, its
lateness and every run it would be the first to ride (a run the plan pays for already costs
nothing more). Either every loan of the title costs at least the penalty that way
(``penalty_cheaper``, the cheapest quoted); or a copy is free, with room on both runs, for
a loan that costs less (``not_chosen``: only a plan not proven optimal leaves one); or every
such loan needs a copy the plan has out, a run it has filled, or a lender at its
``max_outgoing`` or ``max_imbalance`` (``all_candidates_blocked``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from optimizer.loans.schema import Copy, LoansInstance, Request
from optimizer.loans.timetable import Departure, Timetable


class CourierReasons:
    """The plan's runs, copies out and counts, read once for every unfilled request."""

    def __init__(self, instance: LoansInstance, payload: dict[str, Any]):
        self.instance = instance
        self.table = Timetable(instance)
        index = {k.id: i for i, k in enumerate(instance.couriers)}
        self.load: dict[tuple[int, int], int] = defaultdict(int)
        self.busy: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lent: dict[str, int] = defaultdict(int)
        self.received: dict[str, int] = defaultdict(int)
        borrower = {r.id: r.library for r in instance.requests}
        for e in payload.get("loans", []):
            ship = instance.day(date.fromisoformat(e["ship"]))
            back = instance.day(date.fromisoformat(e["return_ship"]))
            self.load[(index[e["courier"]], ship)] += 1
            self.load[(index[e["return_courier"]], back)] += 1
            self.busy[e["copy"]].append((ship, instance.day(date.fromisoformat(e["home"]))))
            self.lent[e["lender"]] += 1
            self.received[borrower[e["request"]]] += 1
        self.shelf: dict[tuple[str, str], list[Copy]] = defaultdict(list)
        for c in instance.copies:
            if c.lendable:
                self.shelf[(c.library, c.title)].append(c)
        self.max_out = {x.id: x.max_outgoing for x in instance.libraries}

    def missing(self, lender: str, borrower: str) -> bool:
        """No courier runs from ``lender`` to ``borrower``, or none back."""
        return not (self.table.serves(lender, borrower) and self.table.serves(borrower, lender))

    def iso(self, day: int) -> str:
        return (self.instance.horizon.start + timedelta(days=day)).isoformat()

    def added(self, r: Request, out: Departure, back: Departure) -> float:
        """What the loan adds to the plan's objective: handling, lateness, new runs."""
        instance = self.instance
        late = max(0, out.arrive - instance.day(r.needed_by))
        cost = 2 * instance.handling_cost + instance.penalties.late_per_day * r.weight * late
        for run in ((out.courier, out.day), (back.courier, back.day)):
            if self.load[run] == 0:
                cost += instance.couriers[run[0]].cost_per_run
        return cost

    def fits(self, c: Copy, r: Request, out: Departure, back: Departure) -> bool:
        """The copy is free over the loan's days (another on the shelf, with
        keep_one_on_shelf), both runs have room, and the lender's counts allow one more."""
        instance = self.instance
        start, end = out.day, back.arrive

        def free(copy: Copy) -> bool:
            return instance.release_day(copy) <= start and all(
                h <= start or end <= s for s, h in self.busy.get(copy.id, [])
            )

        if not free(c):
            return False
        if instance.policies.keep_one_on_shelf and not any(
            free(o) for o in self.shelf[(c.library, c.title)] if o.id != c.id
        ):
            return False
        for run in ((out.courier, out.day), (back.courier, back.day)):
            if self.load[run] >= instance.couriers[run[0]].capacity:
                return False
        cap = self.max_out[c.library]
        if cap is not None and self.lent[c.library] >= cap:
            return False
        k = instance.policies.max_imbalance
        return k is None or (
            abs(self.lent[c.library] + 1 - self.received[c.library]) <= k
            and abs(self.received[r.library] + 1 - self.lent[r.library]) <= k
        )

    def clause(
        self, r: Request, title: str, copies: list[Copy]
    ) -> tuple[str, str, tuple[str, ...]]:
        """The clause of ``title`` for request ``r``, whose ``copies`` are lendable, served
        by couriers both ways and on a shelf within the horizon: code, detail, related."""
        instance = self.instance
        penalty = instance.penalties.unfilled * r.weight
        rate = instance.penalties.late_per_day * r.weight
        need = instance.day(r.needed_by)
        cheapest: tuple[float, str, Copy, Departure] | None = None
        lenders: set[str] = set()
        for c in copies:
            first = max(instance.open_day(r), instance.release_day(c))
            for out in self.table.departures(c.library, r.library, first, instance.last_day):
                if rate * max(0, out.arrive - need) >= penalty and cheapest is not None:
                    break  # lateness alone costs the penalty from here on
                back = self.table.return_run(r.library, c.library, out.arrive + r.loan_days)
                if back is None:
                    continue
                cost = self.added(r, out, back)
                if cheapest is None or (cost, c.id) < (cheapest[0], cheapest[1]):
                    cheapest = (cost, c.id, c, out)
                if cost < penalty:
                    lenders.add(c.library)
                    if self.fits(c, r, out, back):
                        courier = instance.couriers[out.courier].id
                        return (
                            "not_chosen",
                            f"copy {c.id} from {c.library} could ride {courier} on "
                            f"{self.iso(out.day)} with room both ways, adding {cost:g}, less "
                            f"than the penalty {penalty:g}: the plan, not proven optimal, "
                            "left it",
                            (c.id,),
                        )
        if cheapest is None:
            return (
                "no_courier",
                f"no courier run back from {r.library} follows a loan of {title}",
                tuple(sorted({c.library for c in copies})),
            )
        cost, cid, c, out = cheapest
        if not lenders:
            courier = instance.couriers[out.courier].id
            return (
                "penalty_cheaper",
                f"every loan of {title} costs at least the penalty {penalty:g} next to the "
                f"plan's runs: the cheapest, copy {cid} from {c.library} on {courier} on "
                f"{self.iso(out.day)}, adds {cost:g} in runs, handling and lateness",
                (c.library,),
            )
        return (
            "all_candidates_blocked",
            f"every loan of {title} cheaper than the penalty {penalty:g} needs a copy the "
            "plan has out, a run it has filled, or a lender at its max_outgoing or "
            "max_imbalance",
            tuple(sorted(lenders)),
        )
