"""Float weights as the integers CP-SAT and exact matchers need, with an honest error.

A model that rounds its weights optimises a slightly different objective; its bound holds
for the true objective only once widened by the most the rounding can move a solution's
value. :class:`IntegerScale` gives both the integers and that error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Weights with up to this many decimals scale exactly.
EXACT_POWER = 9
# A decimal times its power of ten is whole up to the double's rounding, a few parts in
# 1e16 of the product; anything further off is a genuine fraction. (A tolerance relative to
# 1e-9 took every value as whole at 10**9, whose products are ~1e9.)
WHOLE_TOLERANCE = 1e-13
# A double holds integers exactly up to 2**53: no scaled sum may pass it.
DOUBLE_EXACT = 2**53


@dataclass(frozen=True)
class IntegerScale:
    scale: int
    """A power of ten."""
    exact: bool
    """Whether every weight times ``scale`` is a whole number."""

    def scaled(self, values: Iterable[float] | np.ndarray) -> np.ndarray:
        """The weights times ``scale``, rounded to int64."""
        return np.round(np.asarray(values, dtype=np.float64) * self.scale).astype(np.int64)

    def rounding_error(self, values: Iterable[float] | np.ndarray) -> float:
        """Σ |value - scaled / scale|: the most rounding moves a sum that takes each value at
        most once (times the multiplicity where a value may count more often)."""
        if self.exact:
            return 0.0
        array = np.asarray(values, dtype=np.float64)
        return float(np.abs(array - self.scaled(array) / self.scale).sum())


def integer_scale(values: Iterable[float] | np.ndarray, *, multiplier: float = 1.0) -> IntegerScale:
    """The smallest power of ten that makes every value whole, or else the finest one that
    keeps every scaled sum exact in a double.

    ``multiplier`` is the most any value can count in one sum (minutes a weight multiplies,
    say): sums up to Σ|value| × multiplier × scale must stay below 2**53.
    """
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    total = float(np.abs(array).sum()) * max(1.0, multiplier)
    finest = 1
    for power in range(EXACT_POWER + 1):
        scale = 10**power
        if power and total * scale >= DOUBLE_EXACT:
            break
        finest = scale
        scaled = array * scale
        if np.all(np.abs(scaled - np.round(scaled)) <= WHOLE_TOLERANCE * (1.0 + np.abs(scaled))):
            return IntegerScale(scale, True)
    return IntegerScale(finest, False)
