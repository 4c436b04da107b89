"""Quotas and budgets as one kind of limit: a cap on a weighted sum of booked minutes.

A quota (rule 8) weighs each minute of an institution on a type 1; a budget (rule 10)
weighs it by the hourly price that institution pays there (so its cap is 60 × max_cost).
Every solver path -- greedy, the CP-SAT model, the capacity rows, the rigid MIP, sub-weeks
of the neighbourhood search, explanations -- reads limits through this module, so a new
kind of cap is one constructor here, not a second mechanism in each of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.instruments.accounts import budget_cap, hourly_price
from optimizer.instruments.schema import InstrumentsInstance


@dataclass(frozen=True)
class Limit:
    """Σ rate[instrument] × booked minutes of ``institution`` ≤ ``cap``."""

    name: str
    """``quota[institution][type]`` or ``budget[institution][type or *]``."""
    kind: str
    """``quota`` or ``budget``."""
    institution: str
    instrument_type: str | None
    """The type it covers; None for a budget on every type."""
    rate: tuple[int, ...]
    """Per instrument (by index): what one booked minute there counts; 0 where it does not."""
    cap: int

    def units(self, instrument: int, minutes: int) -> int:
        return self.rate[instrument] * minutes

    def with_cap(self, cap: int) -> Limit:
        return Limit(self.name, self.kind, self.institution, self.instrument_type, self.rate, cap)

    def describe(self, units: int) -> str:
        """``units`` of this limit in its own terms: minutes, or currency."""
        if self.kind == "quota":
            return f"{units} min"
        return f"{units / 60:.2f}"


def build_limits(instance: InstrumentsInstance) -> list[Limit]:
    """The quotas, then the budgets, of ``instance`` over its instruments in document order."""
    types = [i.type for i in instance.instruments]
    limits = [
        Limit(
            f"quota[{q.institution}][{q.instrument_type}]",
            "quota",
            q.institution,
            q.instrument_type,
            tuple(1 if t == q.instrument_type else 0 for t in types),
            q.max_minutes,
        )
        for q in instance.quotas
    ]
    prices = {p.instrument_type: p for p in instance.prices}
    host = {s.id: s.institution for s in instance.sites}
    for b in instance.budgets:
        rate = []
        for inst in instance.instruments:
            price = prices.get(inst.type)
            covered = b.instrument_type is None or inst.type == b.instrument_type
            rate.append(
                hourly_price(price, b.institution, host.get(inst.site, ""))
                if price is not None and covered
                else 0
            )
        limits.append(
            Limit(
                f"budget[{b.institution}][{b.instrument_type or '*'}]",
                "budget",
                b.institution,
                b.instrument_type,
                tuple(rate),
                budget_cap(b),
            )
        )
    return limits


def by_institution(limits: list[Limit]) -> dict[str, list[int]]:
    """Indices of the limits on each institution."""
    out: dict[str, list[int]] = {}
    for k, limit in enumerate(limits):
        out.setdefault(limit.institution, []).append(k)
    return out
