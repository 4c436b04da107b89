"""Independent check of a loans solution: every hard rule of contract section 7, and the
objective recomputed; with couriers, the rules of 7.7 in ``verify_couriers``.

Written from the contract alone, in plain Python with calendar dates, without importing the
model, the candidate builder or the baseline, so a bug there cannot hide here.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from optimizer.core.envelope import Verification
from optimizer.core.numbers import exact, exact_sum
from optimizer.loans.schema import LoansInstance
from optimizer.loans.verify_couriers import CourierCheck
from optimizer.loans.verify_settlement import settlement_violations

TOLERANCE = 1e-6


def _route_table(instance: LoansInstance) -> dict[tuple[str, str], tuple[int, float]]:
    directed = {(s.from_, s.to): (s.days, s.cost) for s in instance.shipping}
    both = dict(directed)
    for (a, b), value in directed.items():
        if (b, a) not in directed:
            both[(b, a)] = value
    return both


def _parse(value: Any) -> date | None:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def verify(instance: LoansInstance, solution: dict[str, Any]) -> Verification:
    requests = {r.id: r for r in instance.requests}
    copies = {c.id: c for c in instance.copies}
    libraries = {x.id: x for x in instance.libraries}
    routes = _route_table(instance)
    couriers = CourierCheck(instance) if instance.couriers else None
    start, end = instance.horizon.start, instance.horizon.end
    pen = instance.penalties
    violations: list[str] = []
    terms: list[Decimal] = []

    filled: set[str] = set()
    busy: dict[str, list[tuple[date, date, str]]] = defaultdict(list)
    lent: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)

    for entry in solution.get("loans", []):
        rid, cid = entry.get("request"), entry.get("copy")
        if rid not in requests:
            violations.append(f"a loan names the unknown request {rid!r}")
            continue
        if cid not in copies:
            violations.append(f"loan for {rid} names the unknown copy {cid!r}")
            continue
        r, c = requests[rid], copies[cid]
        if rid in filled:
            violations.append(f"request {rid} is filled more than once")
        filled.add(rid)
        if not c.lendable:
            violations.append(f"loan for {rid} uses copy {cid}, which is not lendable")
        if c.title not in r.titles:
            violations.append(f"loan for {rid}: copy {cid} holds {c.title}, not a requested title")
        if entry.get("title") != c.title:
            violations.append(f"loan for {rid} reports title {entry.get('title')}, not {c.title}")
        if entry.get("lender") != c.library:
            violations.append(
                f"loan for {rid} reports lender {entry.get('lender')}, not {c.library}"
            )
        if entry.get("borrower") not in (None, r.library):
            violations.append(
                f"loan for {rid} reports borrower {entry.get('borrower')}, not {r.library}"
            )
        lender, borrower = c.library, r.library
        if lender == borrower:
            violations.append(f"loan for {rid}: {lender} cannot lend to itself")
            continue
        if couriers is None and (lender, borrower) not in routes:
            violations.append(f"loan for {rid}: no shipping route between {lender} and {borrower}")
            continue
        ship = _parse(entry.get("ship"))
        if ship is None:
            violations.append(f"loan for {rid} has no valid ship date")
            continue
        earliest = max(
            start,
            r.requested_on if r.requested_on is not None else start,
            c.available_from if c.available_from is not None else start,
        )
        if ship < earliest:
            violations.append(f"loan for {rid} ships on {ship}, before {earliest}")
        if ship > end:
            violations.append(f"loan for {rid} ships on {ship}, after the horizon end {end}")
        if couriers is None:
            out_days, cost = routes[(lender, borrower)]
            back_days, _ = routes[(borrower, lender)]
            arrive = ship + timedelta(days=out_days)
            due_back = arrive + timedelta(days=r.loan_days)
            home = due_back + timedelta(days=back_days)
        else:
            legs = couriers.loan(entry, r, lender, ship)
            if legs is None:
                continue
            arrive, home = legs
            due_back = arrive + timedelta(days=r.loan_days)
            cost = couriers.loan_cost()
        for name, value in (("arrive", arrive), ("due_back", due_back), ("home", home)):
            if _parse(entry.get(name)) != value:
                violations.append(f"loan for {rid} reports {name} {entry.get(name)}, not {value}")
        late = max(0, (arrive - r.needed_by).days)
        if entry.get("late_days") != late:
            violations.append(
                f"loan for {rid} reports {entry.get('late_days')} days late, not {late}"
            )
        # "not <=" so that a NaN cost fails too.
        if (
            not isinstance(entry.get("cost"), int | float)
            or not abs(entry["cost"] - cost) <= TOLERANCE
        ):
            violations.append(f"loan for {rid} reports cost {entry.get('cost')}, not {cost}")
        busy[cid].append((ship, home, rid))
        lent[lender] += 1
        received[borrower] += 1
        terms.append(exact(cost) + exact(pen.late_per_day) * exact(r.weight) * late)

    for cid, spans in busy.items():
        spans.sort()
        for (_s1, h1, r1), (s2, _h2, r2) in itertools.pairwise(spans):
            if s2 < h1:
                violations.append(
                    f"copy {cid} serves {r1} until {h1} and {r2} from {s2}: the loans overlap"
                )

    for lib_id, lib in libraries.items():
        if lib.max_outgoing is not None and lent[lib_id] > lib.max_outgoing:
            violations.append(
                f"{lib_id} ships {lent[lib_id]} loans, above max_outgoing {lib.max_outgoing}"
            )

    if instance.policies.keep_one_on_shelf:
        violations += _shelf_violations(instance, busy)

    k = instance.policies.max_imbalance
    if k is not None:
        for lib_id in libraries:
            if abs(lent[lib_id] - received[lib_id]) > k:
                violations.append(
                    f"{lib_id} lends {lent[lib_id]} and receives {received[lib_id]}, "
                    f"more than max_imbalance {k} apart"
                )

    violations += settlement_violations(instance, solution, lent, received)
    if couriers is not None:
        violations += couriers.violations + couriers.run_violations(solution)
        terms += couriers.run_costs()
    elif solution.get("runs") is not None:
        violations.append("runs list: the solution lists courier runs, but there are no couriers")

    listed = solution.get("unfilled", [])
    if len(set(listed)) != len(listed):
        violations.append("the unfilled list repeats a request")
    if set(listed) != set(requests) - filled:
        violations.append("the unfilled list does not match the requests without a loan")
    for rid, r in requests.items():
        if rid not in filled:
            terms.append(exact(pen.unfilled) * exact(r.weight))
    return Verification(
        checked=True, valid=not violations, violations=violations, objective=exact_sum(terms)
    )


def _shelf_violations(
    instance: LoansInstance, busy: dict[str, list[tuple[date, date, str]]]
) -> list[str]:
    """Hard: with keep_one_on_shelf, while a loan of a title is out, a library still has a
    lendable copy of that title on its shelf (on the shelf = available and not lent out)."""
    start = instance.horizon.start
    group: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for c in instance.copies:
        if c.lendable:
            group[(c.library, c.title)].append(c)
    out = []
    for (lib, title), members in group.items():
        spans = [span for c in members for span in busy.get(c.id, [])]
        if not spans:
            continue
        days = sorted({s + timedelta(days=d) for s, h, _ in spans for d in range((h - s).days)})
        for day in days:
            out_now = {c.id for c in members for s, h, _ in busy.get(c.id, []) if s <= day < h}
            on_shelf = [
                c for c in members if c.id not in out_now and (c.available_from or start) <= day
            ]
            if not on_shelf:
                out.append(f"keep_one_on_shelf: {lib} has no copy of {title} on its shelf on {day}")
                break
    return out
