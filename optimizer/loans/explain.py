"""Why a request was left unfilled, and the numbers a consortium watches (KPIs).

Reasons are read against the plan actually returned: a copy is busy because named loans
in that plan hold it, a lender is full because the plan already ships its max_outgoing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from optimizer.core.envelope import Explanation
from optimizer.loans.rota import Ledger, earliest_ship
from optimizer.loans.schema import Copy, LoansInstance, Request


def _iso(instance: LoansInstance, day: int) -> str:
    return (instance.horizon.start + timedelta(days=day)).isoformat()


def _ledger(instance: LoansInstance, payload: dict[str, Any]) -> tuple[Ledger, dict]:
    """The plan's loans as busy spans; and who holds each copy when."""
    ledger = Ledger(instance)
    holders: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for e in payload.get("loans", []):
        start = instance.day(date.fromisoformat(e["ship"]))
        home = instance.day(date.fromisoformat(e["home"]))
        ledger.busy[e["copy"]].append((start, home))
        ledger.lent[e["lender"]] += 1
        borrower = e.get("borrower") or next(
            r.library for r in instance.requests if r.id == e["request"]
        )
        ledger.received[borrower] += 1
        holders[e["copy"]].append((start, home, e["request"]))
    return ledger, holders


def unfilled(instance: LoansInstance, payload: dict[str, Any]) -> list[Explanation]:
    """One explanation per unfilled request."""
    ledger, holders = _ledger(instance, payload)
    routes = instance.routes()
    by_title: dict[str, list[Copy]] = defaultdict(list)
    for c in instance.copies:
        by_title[c.title].append(c)
    index = {r.id: q for q, r in enumerate(instance.requests)}
    release = {c.id: instance.release_day(c) for c in instance.copies}
    out = []
    for rid in payload.get("unfilled", []):
        r = instance.requests[index[rid]]
        out.append(_explain_one(instance, r, by_title, routes, release, ledger, holders))
    return out


def _explain_one(
    instance: LoansInstance,
    r: Request,
    by_title: dict[str, list[Copy]],
    routes: dict,
    release: dict[str, int],
    ledger: Ledger,
    holders: dict[str, list[tuple[int, int, str]]],
) -> Explanation:
    pen = instance.penalties
    titles = ", ".join(r.titles)
    held = [c for t in dict.fromkeys(r.titles) for c in by_title.get(t, [])]

    def say(code: str, detail: str, related: list[str] | None = None) -> Explanation:
        return Explanation(subject=r.id, code=code, detail=detail, related=related or [])

    if not held:
        return say("no_copy", f"no library in the consortium holds {titles}")
    elsewhere = [c for c in held if c.library != r.library]
    if not elsewhere:
        return say(
            "no_copy_elsewhere",
            f"only the borrowing library {r.library} holds {titles}",
        )
    lendable = [c for c in elsewhere if c.lendable]
    if not lendable:
        return say(
            "not_lendable",
            f"every copy of {titles} elsewhere is marked not lendable",
            sorted({c.library for c in elsewhere}),
        )
    routed = [
        c for c in lendable if (c.library, r.library) in routes and (r.library, c.library) in routes
    ]
    if not routed:
        lenders = sorted({c.library for c in lendable})
        return say(
            "no_route",
            f"no shipping route links {r.library} with {', '.join(lenders)}, "
            f"the libraries holding {titles}",
            lenders,
        )
    last = instance.last_day
    open_day = instance.open_day(r)
    in_time = [c for c in routed if max(open_day, release[c.id]) <= last]
    if not in_time:
        return say(
            "not_in_horizon",
            f"no copy of {titles} is on a shelf before the horizon ends on {instance.horizon.end}",
            sorted({c.id for c in routed}),
        )
    penalty = pen.unfilled * r.weight
    need = instance.day(r.needed_by)

    leg = {lib: routes[(lib, r.library)] for lib in {c.library for c in in_time}}
    rate = pen.late_per_day * r.weight

    def loan_cost(c: Copy, day: int) -> float:
        there = leg[c.library]
        return there.cost + rate * max(0, day + there.days - need)

    first_cost = {c.id: loan_cost(c, max(open_day, release[c.id])) for c in in_time}
    best = min((first_cost[c.id], c.library, c.id) for c in in_time)
    if best[0] >= penalty:
        return say(
            "penalty_cheaper",
            f"the cheapest loan (copy {best[2]} from {best[1]}) would cost {best[0]:g} in "
            f"shipping and lateness, not less than the unfilled penalty {penalty:g}",
            [best[1]],
        )

    blocked: Counter[str] = Counter()
    busy_loans: list[tuple[int, str, str]] = []
    full: set[str] = set()
    # Only copies that could be lent for less than the penalty are candidates: a copy too
    # far or too late to pay off is not "blocked" by anything.
    candidates = sorted(
        (c for c in in_time if first_cost[c.id] < penalty), key=lambda c: first_cost[c.id]
    )
    for c in candidates:
        if ledger.max_out[c.library] is not None and (
            ledger.lent[c.library] >= (ledger.max_out[c.library] or 0)
        ):
            blocked["max_outgoing"] += 1
            full.add(c.library)
            continue
        if not ledger.counts_ok(c.library, r.library):
            blocked["max_imbalance"] += 1
            continue
        there, back = routes[(c.library, r.library)], routes[(r.library, c.library)]
        span = there.days + r.loan_days + back.days
        first = max(open_day, release[c.id])
        free = ledger.copy_free(c, first, first + span)
        day = earliest_ship(ledger, c, first, last, span)
        if day is not None and loan_cost(c, day) < penalty:
            return say(
                "not_chosen",
                f"copy {c.id} from {c.library} could still be lent (ship {_iso(instance, day)}, "
                f"cost {loan_cost(c, day):g}) for less than the penalty {penalty:g}; the "
                "search stopped before placing it",
                [c.library],
            )
        if not free:
            blocked["busy"] += 1
            for s, h, holder in holders.get(c.id, []):
                if h > first and s < last + 1:
                    busy_loans.append((h, holder, c.id))
        else:
            blocked["shelf"] += 1

    kinds = [k for k in ("busy", "max_outgoing", "shelf", "max_imbalance") if blocked[k]]
    if kinds == ["busy"]:
        busy_loans.sort()
        first_free = busy_loans[0][0] if busy_loans else None
        names = ", ".join(
            f"{copy} (lent to {holder} until {_iso(instance, h)})"
            for h, holder, copy in busy_loans[:6]
        )
        more = f" and {len(busy_loans) - 6} more" if len(busy_loans) > 6 else ""
        when = (
            f"; the first comes home on {_iso(instance, first_free)}, too late to ship "
            f"for less than the penalty {penalty:g}"
            if first_free is not None
            else ""
        )
        return say(
            "all_copies_busy",
            f"every copy of {titles} it could borrow is out: {names}{more}{when}",
            sorted({holder for _, holder, _ in busy_loans}),
        )
    if kinds == ["max_outgoing"]:
        return say(
            "lenders_at_max_outgoing",
            f"every library able to lend {titles} already ships its max_outgoing: "
            + ", ".join(f"{x} ({ledger.max_out[x]})" for x in sorted(full)),
            sorted(full),
        )
    if kinds == ["shelf"]:
        return say(
            "keep_one_on_shelf",
            f"lending any copy of {titles} would leave a lender without one on its shelf",
        )
    if kinds == ["max_imbalance"]:
        return say(
            "max_imbalance",
            f"any loan to {r.library} would push a library past max_imbalance "
            f"{instance.policies.max_imbalance} between loans lent and received",
        )
    parts = []
    if blocked["busy"]:
        holders_named = sorted({holder for _, holder, _ in busy_loans})
        # A copy may be lent twice in turn, so the borrowers can outnumber the copies.
        more = f" and {len(holders_named) - 6} more" if len(holders_named) > 6 else ""
        parts.append(
            f"{blocked['busy']} copies are out, lent to {', '.join(holders_named[:6])}{more}"
        )
    if blocked["max_outgoing"]:
        parts.append(f"{', '.join(sorted(full))} already at max_outgoing")
    if blocked["shelf"]:
        parts.append(f"{blocked['shelf']} copies are the last on their shelf")
    if blocked["max_imbalance"]:
        parts.append(f"{blocked['max_imbalance']} loans would break max_imbalance")
    return say("all_candidates_blocked", "; ".join(parts), sorted(full))


def kpis(instance: LoansInstance, payload: dict[str, Any]) -> dict[str, Any]:
    """Fill rate, lateness, cost, and loans lent and received per library."""
    requests = {r.id: r for r in instance.requests}
    loans = payload.get("loans", [])
    pen = instance.penalties
    lent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    shipping = weighted_late = 0.0
    late_loans = late_days = 0
    for e in loans:
        r = requests[e["request"]]
        lent[e["lender"]] += 1
        received[r.library] += 1
        shipping += e["cost"]
        weighted_late += r.weight * e["late_days"]
        late_days += e["late_days"]
        late_loans += e["late_days"] > 0
    unfilled_weight = sum(requests[x].weight for x in payload.get("unfilled", []))
    total_weight = sum(r.weight for r in instance.requests)
    n = len(instance.requests)
    per_library = {
        lib.id: {
            "lent": lent[lib.id],
            "received": received[lib.id],
            "balance": lent[lib.id] - received[lib.id],
        }
        for lib in instance.libraries
    }
    return {
        "requests": n,
        "filled": len(loans),
        "unfilled": n - len(loans),
        "fill_rate": len(loans) / n if n else 1.0,
        "weighted_fill_rate": 1 - unfilled_weight / total_weight if total_weight else 1.0,
        "shipping_cost": shipping,
        "late_loans": late_loans,
        "late_days": late_days,
        "weighted_lateness": weighted_late,
        "lateness_cost": pen.late_per_day * weighted_late,
        "unfilled_penalty": pen.unfilled * unfilled_weight,
        "max_abs_balance": max((abs(v["balance"]) for v in per_library.values()), default=0),
        "loans_by_library": per_library,
    }
