"""Why an unfilled request got no copy, title by title, read against the plan returned.

A request accepting several titles is unfilled only when every one of them failed, and each
may have failed for its own reason, so each title gets its own clause. The reasons, in the
order they are tried for a title (contract 7.9):

- no copy held anywhere, or only by the borrower; every copy elsewhere not lendable;
- no shipping route from any holder (the holders are named), or a route with no courier;
- no copy on a shelf before the horizon ends; every loan costs at least the unfilled penalty
  in shipping and lateness (the earliest arrival is quoted);
- otherwise the copies worth lending were taken, each for its own cause: lent in the plan to
  named competing requests -- either already out when this request could first ship it, or
  on the shelf then but given to the competitor -- or a lender at its ``max_outgoing``, the
  last copy on a shelf, or ``max_imbalance``.

A copy the plan leaves free for a loan cheaper than the penalty is named as such
(``not_chosen``): only a plan cut short leaves one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from optimizer.loans.rota import Ledger, earliest_ship
from optimizer.loans.schema import Copy, LoansInstance, Request, Route


class CourierClauses(Protocol):
    """The clause of a title when loans ride courier runs (``courier_reasons``)."""

    def missing(self, lender: str, borrower: str) -> bool: ...

    def clause(
        self, r: Request, title: str, copies: list[Copy]
    ) -> tuple[str, str, tuple[str, ...]]: ...


# Copies named one by one in a title's clause; the rest are counted.
NAMED_COPIES = 6


def courier_missing(instance: LoansInstance, lender: str, borrower: str) -> bool:
    """Whether the instance has couriers (contract 7.7) but none runs from ``lender`` to
    ``borrower`` or none back: a loan between them then cannot be made."""
    if not instance.couriers:
        return False
    ways = {(k.from_, k.to) for k in instance.couriers}
    return (lender, borrower) not in ways or (borrower, lender) not in ways


def reason_routes(instance: LoansInstance) -> dict[tuple[str, str], Route]:
    """The routes the reasons read: the shipping routes; with couriers, every direction a
    courier serves too, with its fastest transit and the handling of both legs as its cost
    (run costs are shared between loans, so none is charged to one loan alone)."""
    routes = instance.routes()
    if not instance.couriers:
        return routes
    handling = 2 * instance.handling_cost
    fastest: dict[tuple[str, str], int] = {}
    for k in instance.couriers:
        key = (k.from_, k.to)
        fastest[key] = min(fastest.get(key, k.transit), k.transit)
    for (a, b), days in fastest.items():
        for key in ((a, b), (b, a)):
            routes.setdefault(key, Route(**{"from": key[0], "to": key[1], "days": days, "cost": 0}))
        routes[(a, b)] = Route(**{"from": a, "to": b, "days": days, "cost": handling})
    return routes


@dataclass(frozen=True)
class HeldLoan:
    """A loan of the plan as the reasons need it: days counted from the horizon start."""

    request: str
    copy: str
    ship: int
    home: int
    weight: float


@dataclass(frozen=True)
class TitleReason:
    """Why no copy of one title served the request."""

    title: str
    code: str
    detail: str
    related: tuple[str, ...] = ()


@dataclass
class PlanView:
    """The plan as busy spans and counts (a :class:`Ledger`), and the loans holding each copy."""

    ledger: Ledger
    loans_of_copy: dict[str, list[HeldLoan]] = field(default_factory=dict)


def read_plan(instance: LoansInstance, payload: dict[str, Any]) -> PlanView:
    """The plan's loans as busy spans, counts per library, and loans per copy."""
    requests = {r.id: r for r in instance.requests}
    ledger = Ledger(instance)
    loans_of_copy: dict[str, list[HeldLoan]] = defaultdict(list)
    for e in payload.get("loans", []):
        r = requests[e["request"]]
        ship = instance.day(date.fromisoformat(e["ship"]))
        home = instance.day(date.fromisoformat(e["home"]))
        ledger.busy[e["copy"]].append((ship, home))
        ledger.lent[e["lender"]] += 1
        ledger.received[r.library] += 1
        loans_of_copy[e["copy"]].append(HeldLoan(r.id, e["copy"], ship, home, r.weight))
    for spans in loans_of_copy.values():
        spans.sort(key=lambda loan: (loan.ship, loan.request))
    return PlanView(ledger, dict(loans_of_copy))


class TitleAnalysis:
    """The reasons of one unfilled request, one title at a time."""

    def __init__(
        self,
        instance: LoansInstance,
        plan: PlanView,
        request: Request,
        holdings: dict[str, list[Copy]],
        routes: dict[tuple[str, str], Route],
        couriers: CourierClauses | None = None,
    ):
        self.couriers = couriers
        self.instance = instance
        self.plan = plan
        self.r = request
        self.holdings = holdings
        self.routes = routes
        self.open_day = instance.open_day(request)
        self.need = instance.day(request.needed_by)
        self.penalty = instance.penalties.unfilled * request.weight
        self.rate = instance.penalties.late_per_day * request.weight

    def iso(self, day: int) -> str:
        return (self.instance.horizon.start + timedelta(days=day)).isoformat()

    def first_day(self, c: Copy) -> int:
        return max(self.open_day, self.instance.release_day(c))

    def loan_cost(self, c: Copy, ship: int) -> float:
        """Shipping and lateness of lending ``c`` to this request on day ``ship``."""
        there = self.routes[(c.library, self.r.library)]
        return there.cost + self.rate * max(0, ship + there.days - self.need)

    def span(self, c: Copy) -> int:
        there = self.routes[(c.library, self.r.library)]
        back = self.routes[(self.r.library, c.library)]
        return there.days + self.r.loan_days + back.days

    def last_useful_day(self, c: Copy) -> int:
        """The last ship day on which lending ``c`` costs less than the penalty (the cost
        never falls as the ship day moves later); below ``first_day`` when there is none."""
        there = self.routes[(c.library, self.r.library)]
        first, last = self.first_day(c), self.instance.last_day
        if there.cost >= self.penalty:
            return first - 1
        if self.rate == 0:
            return last
        # Late by k days costs cost + rate * k: under the penalty while k < slack.
        slack = (self.penalty - there.cost) / self.rate
        latest = self.need - there.days + math.ceil(slack) - 1
        # The float division may land a day off either way; the cost itself decides.
        while latest >= first and self.loan_cost(c, latest) >= self.penalty:
            latest -= 1
        while latest < last and self.loan_cost(c, latest + 1) < self.penalty:
            latest += 1
        return min(last, latest)

    # ------------------------------------------------------------------ the chain

    def reason(self, title: str) -> TitleReason:
        r = self.r
        held = self.holdings.get(title, [])
        if not held:
            return TitleReason(title, "no_copy", f"no library in the consortium holds {title}")
        elsewhere = [c for c in held if c.library != r.library]
        if not elsewhere:
            return TitleReason(
                title, "no_copy_elsewhere", f"only the borrowing library {r.library} holds {title}"
            )
        lendable = [c for c in elsewhere if c.lendable]
        if not lendable:
            holders = sorted({c.library for c in elsewhere})
            return TitleReason(
                title,
                "not_lendable",
                f"every copy of {title} elsewhere ({', '.join(holders)}) is marked not lendable",
                tuple(holders),
            )
        holders = sorted({c.library for c in lendable})
        routed = [c for c in lendable if (c.library, r.library) in self.routes]
        if not routed:
            return TitleReason(
                title,
                "no_route",
                f"no shipping route links {r.library} with {', '.join(holders)}, the libraries "
                f"holding {title}",
                tuple(holders),
            )
        if self.couriers is not None:
            served = [c for c in routed if not self.couriers.missing(c.library, r.library)]
        else:
            served = [c for c in routed if not courier_missing(self.instance, c.library, r.library)]
        if not served:
            return no_courier_reason(title, r.library, sorted({c.library for c in routed}))
        in_horizon = [c for c in served if self.first_day(c) <= self.instance.last_day]
        if not in_horizon:
            return TitleReason(
                title,
                "not_in_horizon",
                f"no copy of {title} is on a shelf before the horizon ends on "
                f"{self.instance.horizon.end}",
                tuple(sorted(c.id for c in served)),
            )
        if self.couriers is not None:
            code, detail, related = self.couriers.clause(r, title, in_horizon)
            return TitleReason(title, code, detail, related)
        worth = [c for c in in_horizon if self.loan_cost(c, self.first_day(c)) < self.penalty]
        if not worth:
            return self._too_dear(title, in_horizon)
        return self._taken(title, worth)

    def _too_dear(self, title: str, copies: list[Copy]) -> TitleReason:
        """Every loan of the title costs at least the penalty: by shipping alone, or because
        even the earliest arrival is late enough."""
        cheapest = min((self.loan_cost(c, self.first_day(c)), c.library, c.id) for c in copies)
        cost, lender, cid = cheapest
        arrival, early = min(
            (self.first_day(c) + self.routes[(c.library, self.r.library)].days, c.id)
            for c in copies
        )
        early_copy = next(c for c in copies if c.id == early)
        late = max(0, arrival - self.need)
        shipping = min(self.routes[(c.library, self.r.library)].cost for c in copies)
        if late > 0 and shipping < self.penalty:
            return TitleReason(
                title,
                "arrives_too_late",
                f"the earliest a copy of {title} can arrive is {self.iso(arrival)} (copy "
                f"{early} from {early_copy.library}), {late} days after needed_by "
                f"{self.r.needed_by}; the cheapest loan (copy {cid} from {lender}) would cost "
                f"{cost:g} in shipping and lateness, not less than the unfilled penalty "
                f"{self.penalty:g}",
                (lender,),
            )
        return TitleReason(
            title,
            "penalty_cheaper",
            f"the cheapest loan of {title} (copy {cid} from {lender}) would cost {cost:g} in "
            f"shipping and lateness, not less than the unfilled penalty {self.penalty:g}",
            (lender,),
        )

    def _taken(self, title: str, worth: list[Copy]) -> TitleReason:
        """Each copy worth lending, and what in the plan keeps it from this request."""
        ledger = self.plan.ledger
        causes: list[tuple[str, str, list[str]]] = []  # (cause, clause, related ids)
        worth.sort(key=lambda c: (self.loan_cost(c, self.first_day(c)), c.id))
        for c in worth:
            first, until = self.first_day(c), self.last_useful_day(c)
            cap = ledger.max_out[c.library]
            if cap is not None and ledger.lent[c.library] >= cap:
                causes.append(
                    (
                        "max_outgoing",
                        f"copy {c.id} from {c.library}: {c.library} already ships its max_outgoing {cap}",
                        [c.library],
                    )
                )
                continue
            if not ledger.counts_ok(c.library, self.r.library):
                causes.append(
                    (
                        "max_imbalance",
                        f"copy {c.id} from {c.library}: a loan from {c.library} to {self.r.library} would push "
                        f"one of them past max_imbalance {self.instance.policies.max_imbalance}",
                        [],
                    )
                )
                continue
            span = self.span(c)
            day = earliest_ship(ledger, c, first, until, span)
            if day is not None:
                return TitleReason(
                    title,
                    "not_chosen",
                    f"copy {c.id} from {c.library} could still be lent (ship {self.iso(day)}, "
                    f"cost {self.loan_cost(c, day):g}) for less than the penalty "
                    f"{self.penalty:g}; the search stopped before placing it",
                    (c.library,),
                )
            if any(ledger.copy_free(c, d, d + span) for d in range(first, until + 1)):
                causes.append(
                    (
                        "shelf",
                        f"copy {c.id} from {c.library}: whenever it is free, lending it would "
                        f"leave {c.library} "
                        f"without a copy of {title} on its shelf",
                        [],
                    )
                )
                continue
            causes.append(self._holders(c, first, until, span))
        return self._summarise(title, causes)

    def _holders(self, c: Copy, first: int, until: int, span: int) -> tuple[str, str, list[str]]:
        """The plan's loans holding ``c`` over the days this request could have used it."""
        holding = [
            loan
            for loan in self.plan.loans_of_copy.get(c.id, [])
            if loan.ship < until + span and loan.home > first
        ]
        parts = []
        back = first  # the first day, from ``first`` on, that the copy is on its shelf
        for loan in holding:
            if loan.ship < first:
                parts.append(
                    f"already out when this request could first ship it on {self.iso(first)}, "
                    f"lent to {loan.request} from {self.iso(loan.ship)} until "
                    f"{self.iso(loan.home)}"
                )
            else:
                when = (
                    "the first day this request could ship it"
                    if back == first
                    else "when it came back"
                )
                parts.append(
                    f"on the shelf on {self.iso(back)}, {when}, but the plan gives it to "
                    f"{loan.request} (weight {loan.weight:g}, "
                    f"{_compare(loan.weight, self.r.weight)} this request's) from "
                    f"{self.iso(loan.ship)} until {self.iso(loan.home)}"
                )
            back = max(back, loan.home)
        given = any(loan.ship >= first for loan in holding)
        after = (
            f"; shipped after {self.iso(until)} it would cost at least the penalty {self.penalty:g}"
            if until < self.instance.last_day
            else ""
        )
        clause = f"copy {c.id} from {c.library} was " + " and then ".join(parts) + after
        return ("given" if given else "busy", clause, [loan.request for loan in holding])

    def _summarise(self, title: str, causes: list[tuple[str, str, list[str]]]) -> TitleReason:
        kinds = {cause for cause, _, _ in causes}
        if kinds == {"busy"}:
            code = "all_copies_busy"
        elif kinds <= {"busy", "given"}:
            code = "copies_given_to_others"
        elif kinds == {"max_outgoing"}:
            code = "lenders_at_max_outgoing"
        elif kinds == {"shelf"}:
            code = "keep_one_on_shelf"
        elif kinds == {"max_imbalance"}:
            code = "max_imbalance"
        else:
            code = "all_candidates_blocked"
        clauses = [clause for _, clause, _ in causes[:NAMED_COPIES]]
        more = len(causes) - NAMED_COPIES
        tail = f"; and {more} more copies likewise" if more > 0 else ""
        related = sorted({x for _, _, ids in causes for x in ids})
        return TitleReason(
            title,
            code,
            f"every copy of {title} worth lending is taken: " + "; ".join(clauses) + tail,
            tuple(related),
        )


def _compare(theirs: float, ours: float) -> str:
    if theirs == ours:
        return "the same as"
    return "above" if theirs > ours else "below"


def no_courier_reason(title: str, borrower: str, lenders: list[str]) -> TitleReason:
    """Routes link the borrower with the holders of ``title``, but no courier runs on them."""
    return TitleReason(
        title,
        "no_courier",
        f"routes link {borrower} with {', '.join(lenders)}, the libraries holding "
        f"{title}, but no courier runs both ways between them",
        tuple(lenders),
    )
