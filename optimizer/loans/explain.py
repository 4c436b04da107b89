"""Why a request was left unfilled, and the numbers a consortium watches (KPIs).

Reasons are read against the plan actually returned (``unfilled_reasons``): a copy is taken
because named loans in that plan hold it, a lender is full because the plan already ships its
max_outgoing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from optimizer.core.envelope import Explanation
from optimizer.loans.courier_reasons import CourierReasons
from optimizer.loans.schema import Copy, LoansInstance, Request
from optimizer.loans.unfilled_reasons import TitleAnalysis, TitleReason, read_plan, reason_routes


def unfilled(instance: LoansInstance, payload: dict[str, Any]) -> list[Explanation]:
    """One explanation per unfilled request, with a clause for every title it accepts."""
    plan = read_plan(instance, payload)
    routes = reason_routes(instance)
    couriers = CourierReasons(instance, payload) if instance.couriers else None
    holdings: dict[str, list[Copy]] = defaultdict(list)
    for c in instance.copies:
        holdings[c.title].append(c)
    requests = {r.id: r for r in instance.requests}
    out = []
    for rid in payload.get("unfilled", []):
        r = requests[rid]
        analysis = TitleAnalysis(instance, plan, r, holdings, routes, couriers)
        reasons = [analysis.reason(title) for title in dict.fromkeys(r.titles)]
        out.append(_combine(r, reasons))
    return out


def _combine(r: Request, reasons: list[TitleReason]) -> Explanation:
    """One explanation from the titles' reasons: a free copy the plan left (``not_chosen``)
    says most; otherwise the titles' common code, or ``several_reasons`` when they differ."""
    for why in reasons:
        if why.code == "not_chosen":
            return Explanation(
                subject=r.id, code=why.code, detail=why.detail, related=list(why.related)
            )
    codes = {why.code for why in reasons}
    code = codes.pop() if len(codes) == 1 else "several_reasons"
    related = sorted({x for why in reasons for x in why.related})
    detail = "; ".join(why.detail for why in reasons)
    return Explanation(subject=r.id, code=code, detail=detail, related=related)


def kpis(instance: LoansInstance, payload: dict[str, Any]) -> dict[str, Any]:
    """Fill rate, lateness, cost, loans lent and received per library, and the settlement."""
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
    return (
        {
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
        | _settlement_kpis(payload)
        | _courier_kpis(payload)
    )


def _settlement_kpis(payload: dict[str, Any]) -> dict[str, Any]:
    """With policies.balance_price, the plan's settlement and the money it moves."""
    if "settlement" not in payload:
        return {}
    settlement = payload["settlement"]
    return {
        "settlement": settlement,
        "compensation_paid": sum(t["amount"] for t in settlement["transfers"]),
    }


def _courier_kpis(payload: dict[str, Any]) -> dict[str, Any]:
    """With couriers (contract 7.7): the runs used, what they cost, how full they ride."""
    if "runs" not in payload:
        return {}
    runs = payload["runs"]
    return {
        "courier_runs": len(runs),
        "run_cost": sum(x["cost"] for x in runs),
        "items_per_run": sum(x["items"] for x in runs) / len(runs) if runs else 0.0,
    }
