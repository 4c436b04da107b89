"""Regression: uncoverable groups instances were reported no_solution instead of infeasible.

The bug: a groups instance that cannot cover everyone it must (cover_all or required pairs) is
reported ``no_solution`` instead of ``infeasible``, with a negative ``bound`` and no
explanation, whenever the groups chosen next to the uncovered institution score more than
half of the artificial column's penalty.

Where: ``solve_set_partitioning`` decides "an artificial column is in the optimum, so no
grouping covers everyone" with ``best < -0.5 * penalty`` / ``bound < -0.5 * penalty``. The
penalty is ``1 + sum(|column scores|)``, so a proven optimum that uses an artificial column
has value ``S - penalty`` with ``S`` up to ``penalty - 1``: it can be anywhere below
``-sum(|negative scores|)``, e.g. -1, not necessarily below ``-penalty / 2``. When the
integer master is proven optimal over all columns (``bound == best``) and one of its groups
is empty (an artificial), the instance is infeasible regardless of the value.

Minimal reproducer: three institutions, groups of exactly 2, cover_all, one scored pair.
Brute force: no feasible grouping. It came back ``no_solution``, bound -1.0, for every backend.
"""

from __future__ import annotations

import random

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    BACKENDS,
    brute_force_groups,
    random_groups_doc,
    solve_doc,
)


@pytest.mark.parametrize("backend", ("auto", *BACKENDS))
def test_odd_count_into_pairs_with_cover_all_is_infeasible(backend):
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
        "scores": [{"a": "a", "b": "b", "score": 1.0}],
        "group": {"min_size": 2, "max_size": 2, "cover_all": True},
    }
    assert brute_force_groups(doc) is None
    solution = solve_doc(doc, solver=backend)
    assert solution.status == Status.INFEASIBLE
    assert solution.explanations


@pytest.mark.parametrize("seed", [31, 96, 189])
def test_oracle_seeds_that_expose_it(seed):
    """The seeds of test_oracles.groups_doc that the oracle test leaves out for this bug."""
    rng = random.Random(2000 + seed)
    doc = random_groups_doc(rng, rng.randint(4, 9))
    assert brute_force_groups(doc) is None
    solution = solve_doc(doc)
    assert solution.status == Status.INFEASIBLE
    assert solution.explanations
