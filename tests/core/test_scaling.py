"""Integer weights for CP-SAT and the matchers: exact where the decimals allow, else honest."""

from __future__ import annotations

import math
import random

import numpy as np

from optimizer.core.scaling import DOUBLE_EXACT, integer_scale


def test_decimals_scale_exactly_at_the_smallest_power():
    scaling = integer_scale([0.5, 1.25, 3.0])
    assert (scaling.scale, scaling.exact) == (100, True)
    assert scaling.scaled([0.5, 1.25, 3.0]).tolist() == [50, 125, 300]
    assert scaling.rounding_error([0.5, 1.25, 3.0]) == 0.0


def test_whole_numbers_need_no_scale():
    assert integer_scale([3, 7, -2]) == integer_scale(np.array([3.0, 7.0, -2.0]))
    assert integer_scale([3, 7, -2]).scale == 1


def test_full_precision_weights_are_rounded_with_a_true_error():
    rng = random.Random(4)
    values = [rng.random() for _ in range(200)]
    scaling = integer_scale(values)
    assert not scaling.exact and scaling.scale == 10**9
    error = scaling.rounding_error(values)
    # Any subset's scaled sum is within the error of its true sum.
    for _ in range(50):
        subset = [v for v in values if rng.random() < 0.5]
        scaled = sum(scaling.scaled(subset).tolist()) / scaling.scale
        assert abs(scaled - math.fsum(subset)) <= error + 1e-12
    assert 0 < error <= 0.5 * len(values) / scaling.scale


def test_scaled_sums_stay_exact_in_a_double():
    values = [1 / 3, 2 / 3, 1e3 / 7]
    scaling = integer_scale(values, multiplier=1_000_000)
    assert not scaling.exact
    assert sum(abs(v) for v in values) * 1_000_000 * scaling.scale < DOUBLE_EXACT
    assert sum(abs(v) for v in values) * 1_000_000 * scaling.scale * 10 >= DOUBLE_EXACT


def test_large_full_precision_values_are_not_taken_as_whole():
    """Regression: a tolerance of 1e-9 relative to the scaled value was a whole unit at
    10**9, so any full-precision weight in [0.1, 10) counted as exact there, with no
    rounding error reported, and a rounded optimum was called proven."""
    values = [3.141592653589793, 2.718281828459045, 1.4142135623730951]
    scaling = integer_scale(values)
    assert not scaling.exact
    assert scaling.rounding_error(values) > 0


def test_decimals_of_large_values_are_still_whole():
    values = [123456.789, 98765.4321, 0.5]
    scaling = integer_scale(values)
    assert (scaling.scale, scaling.exact) == (10_000, True)
