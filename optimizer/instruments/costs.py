"""What a plan's bookings cost and how the alliance's decayed shares stand (contract 6.8).

Read from the solution payload and the instance alone, in datetimes and exact fractions,
without the timeline or the model: the verifier checks budgets with it, and the KPIs of a
verified plan come from it, so neither depends on how the solvers count.
"""

from __future__ import annotations

import math
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


def history(instance: InstrumentsInstance) -> dict[tuple[str, str], int]:
    """Per (institution, type): Σ minutes · 0.5^(weeks_ago / half-life) in document order,
    rounded to the nearest whole minute, halves up (contract 6.8)."""
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for u in instance.usage_history:
        factor = 0.5 ** (u.weeks_ago / instance.history_half_life_weeks)
        sums[(u.institution, u.instrument_type)] += u.minutes * factor
    return {key: math.floor(value + 0.5) for key, value in sums.items()}


def decayed_minutes(instance: InstrumentsInstance, minutes: Table) -> dict[str, dict[str, int]]:
    """Type -> institution -> minutes booked plus history; institutions with a target are
    listed even when they have neither."""
    decayed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for who, by_type in minutes.items():
        for kind, m in by_type.items():
            decayed[kind][who] += m
    for (who, kind), m in history(instance).items():
        decayed[kind][who] += m
    for f in instance.fair_share:
        decayed[f.instrument_type][f.institution] += 0
    return decayed


def shortfalls(instance: InstrumentsInstance, minutes: Table) -> dict[tuple[str, str], Fraction]:
    """Per (type, institution) with a target: max(0, target · type total − its decayed
    minutes), exactly."""
    decayed = decayed_minutes(instance, minutes)
    out = {}
    for f in instance.fair_share:
        row = decayed[f.instrument_type]
        percent = Fraction(round(f.target * 100))
        short = percent * sum(row.values()) - 100 * row[f.institution]
        out[(f.instrument_type, f.institution)] = max(Fraction(0), short / 100)
    return out


def penalised(instance: InstrumentsInstance, weight: float, solution: dict[str, Any]) -> float:
    """The objective of 6.8: weight served less the penalty on every target's shortfall."""
    short = sum(shortfalls(instance, booked_minutes(instance, solution)).values(), Fraction(0))
    return float(Fraction(weight) - Fraction(str(instance.fair_share_penalty)) * short)


def fair_shares(instance: InstrumentsInstance, minutes: Table) -> dict[str, Any]:
    """Per type and institution: minutes booked, decayed minutes, share, target, shortfall."""
    decayed = decayed_minutes(instance, minutes)
    short = shortfalls(instance, minutes)
    targets = {(f.instrument_type, f.institution): f.target for f in instance.fair_share}
    out: dict[str, Any] = {}
    for kind in sorted(decayed):
        total = sum(decayed[kind].values())
        rows = {}
        for who in sorted(decayed[kind]):
            mine = decayed[kind][who]
            rows[who] = {
                "booked_minutes": minutes.get(who, {}).get(kind, 0),
                "decayed_minutes": mine,
                "share": round(mine / total, 4) if total > 0 else 0.0,
                "target": targets.get((kind, who)),
                "shortfall_minutes": (
                    round(float(short[(kind, who)]), 2) if (kind, who) in short else None
                ),
            }
        out[kind] = rows
    return out


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
