"""``toys``: a fourth kind that lives only in the tests, to show what a kind must provide.

Given toys with values and sizes and a box, choose toys that fit the box at the most total
value (a 0/1 knapsack). It is registered through ``UNISHARE_EXTRA_KINDS`` and nothing else:
if a new kind needs an edit anywhere else in the house, the tests using it fail.
"""

from tests.toykind.kind import KIND

__all__ = ["KIND"]
