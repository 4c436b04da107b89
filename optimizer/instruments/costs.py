"""What a plan's bookings cost and how the alliance's decayed shares stand (contract 6.8).

Read from the solution payload and the instance alone, in datetimes and exact fractions,
without the timeline or the model: the verifier checks budgets with it, and the KPIs of a
verified plan come from it, so neither depends on how the solvers count.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from optimizer.instruments.accounts import hourly_price
from optimizer.instruments.schema import InstrumentsInstance

MINUTE = timedelta(minutes=1)

# institution -> type -> value
Table = dict[str, dict[str, Any]]


def booked_minutes(instance: InstrumentsInstance, solution: dict[str, Any]) -> Table:
    """Minutes booked per institution and instrument type, from the payload's bookings."""
    requests = {r.id: r.institution for r in instance.requests}
    types = {i.id: i.type for i in instance.instruments}
    out: Table = defaultdict(lambda: defaultdict(int))
    for b in solution.get("bookings", []):
        who, kind = requests.get(b.get("request")), types.get(b.get("instrument"))
        if who is None or kind is None:
            continue  # the verifier reports unknown ids; there is nothing to count
        start, end = _time(b.get("start")), _time(b.get("end"))
        out[who][kind] += (end - start) // MINUTE
    return out


def costs(instance: InstrumentsInstance, solution: dict[str, Any]) -> Table:
    """Exact cost per institution and priced instrument type of the payload's bookings."""
    requests = {r.id: r.institution for r in instance.requests}
    prices = {p.instrument_type: p for p in instance.prices}
    host = {s.id: s.institution for s in instance.sites}
    instruments = {i.id: i for i in instance.instruments}
    out: Table = defaultdict(lambda: defaultdict(Fraction))
    for b in solution.get("bookings", []):
        who, inst = requests.get(b.get("request")), instruments.get(b.get("instrument"))
        if who is None or inst is None or inst.type not in prices:
            continue
        minutes = (_time(b.get("end")) - _time(b.get("start"))) // MINUTE
        per_hour = hourly_price(prices[inst.type], who, host.get(inst.site, ""))
        out[who][inst.type] += Fraction(minutes * per_hour, 60)
    return out


def check_budgets(instance: InstrumentsInstance, solution: dict[str, Any], bad: list[str]) -> None:
    """Hard (rule 10): what an institution's bookings cost stays within each budget."""
    spent = costs(instance, solution)
    for b in instance.budgets:
        by_type = spent.get(b.institution, {})
        cost = (
            sum(by_type.values(), Fraction(0))
            if b.instrument_type is None
            else by_type.get(b.instrument_type, Fraction(0))
        )
        if cost > Fraction(str(b.max_cost)):
            bad.append(
                f"budget of {b.institution} on {b.instrument_type or 'every type'}: "
                f"bookings cost {float(cost):.2f}, max {b.max_cost:g}"
            )


def account_kpis(instance: InstrumentsInstance, solution: dict[str, Any]) -> dict[str, Any]:
    """The KPIs of 6.8, present only for instances that use its fields."""
    out: dict[str, Any] = {}
    uses_accounts = instance.prices or instance.budgets
    uses_shares = instance.fair_share or instance.usage_history
    if not (uses_accounts or uses_shares):
        return out
    minutes = booked_minutes(instance, solution)
    out["booked_minutes_by_institution_and_type"] = {
        who: dict(sorted(by_type.items())) for who, by_type in sorted(minutes.items())
    }
    if instance.prices:
        spent = costs(instance, solution)
        out["cost_by_institution"] = {
            who: round(float(sum(by_type.values(), Fraction(0))), 2)
            for who, by_type in sorted(spent.items())
        }
        out["cost_by_institution_and_type"] = {
            who: {kind: round(float(c), 2) for kind, c in sorted(by_type.items())}
            for who, by_type in sorted(spent.items())
        }
    if uses_shares:
        out["fair_share"] = fair_shares(instance, minutes)
    return out


def fair_shares(instance: InstrumentsInstance, minutes: Table) -> dict[str, Any]:
    """Per type and institution: minutes booked, decayed minutes, share, target, shortfall."""
    decayed: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for who, by_type in minutes.items():
        for kind, m in by_type.items():
            decayed[kind][who] += m
    for u in instance.usage_history:
        factor = 0.5 ** (u.weeks_ago / instance.history_half_life_weeks)
        decayed[u.instrument_type][u.institution] += u.minutes * factor
    targets = {(f.instrument_type, f.institution): f.target for f in instance.fair_share}
    for kind, who in targets:
        decayed[kind][who] += 0.0  # an institution with a target is listed even unbooked
    out: dict[str, Any] = {}
    for kind in sorted(decayed):
        total = sum(decayed[kind].values())
        rows = {}
        for who in sorted(decayed[kind]):
            mine = decayed[kind][who]
            target = targets.get((kind, who))
            rows[who] = {
                "booked_minutes": minutes.get(who, {}).get(kind, 0),
                "decayed_minutes": round(mine, 1),
                "share": round(mine / total, 4) if total > 0 else 0.0,
                "target": target,
                "shortfall_minutes": (
                    None if target is None else round(max(0.0, target * total - mine), 1)
                ),
            }
        out[kind] = rows
    return out


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
