"""Totals of decimal inputs: exact where float addition drifts."""

from __future__ import annotations

from decimal import Decimal

from optimizer.core.numbers import exact, exact_sum


def test_decimal_inputs_sum_to_the_total_computed_by_hand():
    assert 0.1 + 0.1 + 0.1 != 0.3  # the drift this module exists for
    assert exact_sum([0.1, 0.1, 0.1]) == 0.3
    assert exact_sum([2.35] * 7) == 16.45
    assert exact_sum([]) == 0.0


def test_products_stay_exact_when_taken_as_decimals():
    assert exact(0.1) == Decimal("0.1")
    assert exact_sum([exact(0.1) * 3, exact(1.7) * 2]) == 3.7
