"""Totals of decimal inputs without floating-point drift.

Weights, costs and penalties arrive as decimals in the documents (0.1, 2.35). Their float
sum drifts (0.1 + 0.1 + 0.1 is 0.30000000000000004), and so would an objective reported to a
planner. Each value is taken as the decimal it prints as, the arithmetic is exact, and the
total is rounded to a float once.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal


def exact(value: float) -> Decimal:
    """The decimal a float prints as (its shortest round-tripping representation)."""
    return Decimal(repr(float(value)))


def exact_sum(values: Iterable[Decimal | float]) -> float:
    """The sum of ``values`` (floats taken as the decimals they print as), rounded once."""
    return float(sum((v if isinstance(v, Decimal) else exact(v) for v in values), Decimal(0)))
