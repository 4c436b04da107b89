"""Regression: CP-SAT groups mode could not prove optimality for scores with over 6 decimals.

The bug: groups mode with ``solver: cp-sat`` never proves optimality when a score has more than
6 decimals and the LP relaxation has an integrality gap: the status is ``feasible`` with the
LP bound, although HiGHS and CBC prove the same objective optimal in milliseconds. An
infeasible instance of that kind comes back ``no_solution`` instead of ``infeasible``.

Where: ``_integer_master_cpsat`` scales scores with ``integer_scale(..., max_power=6)``; when
that is not exact it returns ``proven = False`` and ``bound = None`` (a rounded objective
"proves nothing"), so ``solve_set_partitioning`` keeps the LP bound. Pairs mode solves the
same problem by scaling up to 10**9 and widening the CP-SAT bound by the rounding slack; the
integer master could do the same (slack = half a unit per selectable group), or verify the
CP-SAT answer against the exact objective.

Minimal reproducer: three institutions, every pair scored 1.0000001, groups of exactly 2.
Optimum 1.0000001 (brute force, HiGHS, CBC); CP-SAT: feasible, bound 1.50000015.
"""

from __future__ import annotations

import random

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import TOL, brute_force_groups, random_groups_doc, solve_doc


def test_triangle_with_seven_decimals_is_proven_optimal_by_cpsat():
    score = 1.0000001
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
        "scores": [
            {"a": "a", "b": "b", "score": score},
            {"a": "b", "b": "c", "score": score},
            {"a": "a", "b": "c", "score": score},
        ],
        "group": {"min_size": 2, "max_size": 2},
    }
    solution = solve_doc(doc, solver="cp-sat")
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(score, abs=TOL)


@pytest.mark.parametrize("seed", [21, 37])
def test_many_decimals_groups_with_cpsat(seed):
    rng = random.Random(2000 + seed)
    doc = random_groups_doc(rng, rng.randint(4, 9), decimals=(1, 3, 7))
    expected = brute_force_groups(doc)
    solution = solve_doc(doc, solver="cp-sat")
    if expected is None:
        assert solution.status == Status.INFEASIBLE
    else:
        assert solution.status == Status.OPTIMAL
        assert solution.objective == pytest.approx(expected[0], abs=TOL)


def test_full_precision_and_formula_groups_with_cpsat():
    """The cases test_backends.py runs with HiGHS and CBC only, because of this bug."""
    from tests.matching.helpers import random_profiles
    from tests.matching.test_backends import float_groups_doc

    doc = float_groups_doc(33, 10, decimals=None)
    reference = solve_doc(doc, solver="highs")
    solution = solve_doc(doc, solver="cp-sat")
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(reference.objective, abs=TOL)

    rng = random.Random(36)
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": random_profiles(rng, 11),
        "group": {"min_size": 3, "max_size": 4},
    }
    solution = solve_doc(doc, solver="cp-sat")
    assert solution.status == Status.OPTIMAL
