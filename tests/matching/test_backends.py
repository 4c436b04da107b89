"""HiGHS, CBC and CP-SAT reach the same proven optimum on the same instances."""

from __future__ import annotations

import random
from typing import Any

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    BACKENDS,
    TOL,
    assert_verified,
    brute_force_groups,
    ids,
    random_groups_doc,
    random_profiles,
    random_scored_pairs,
    solve_doc,
)


def agree(doc: dict[str, Any], backends: tuple[str, ...] = BACKENDS) -> float:
    """Solve with each backend; all must prove the same optimum. Returns it."""
    objectives = {}
    for backend in backends:
        solution = solve_doc(doc, solver=backend)
        assert solution.status == Status.OPTIMAL, (backend, solution.status, solution.bound)
        assert solution.run.solver == backend
        assert_verified(solution)
        assert solution.gap is not None and solution.gap <= 1e-6
        objectives[backend] = solution.objective
    reference = objectives[backends[0]]
    for value in objectives.values():
        assert value == pytest.approx(reference, abs=TOL), objectives
    return reference


def float_pairs_doc(seed: int, n: int, density: float) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        "kind": "matching",
        "institutions": [{"id": x, "capacity": rng.randint(1, 3)} for x in ids(n)],
        # full double precision: no power of ten makes these integers
        "scores": random_scored_pairs(rng, n, density, low=0.0001, high=1.0),
    }


@pytest.mark.parametrize(("seed", "n", "density"), [(11, 20, 0.3), (12, 35, 0.15), (13, 30, 0.6)])
def test_pairs_with_full_precision_scores(seed, n, density):
    doc = float_pairs_doc(seed, n, density)
    assert any(len(repr(s["score"])) > 15 for s in doc["scores"])
    agree(doc)


def test_pairs_with_min_partners_and_required():
    doc = float_pairs_doc(14, 24, 0.3)
    doc["institutions"][0]["min_partners"] = 1
    doc["institutions"][5]["min_partners"] = 1
    first = doc["scores"][0]
    doc["rules"] = {"required": [[first["a"], first["b"]]]}
    agree(doc)


@pytest.mark.parametrize("seed", [21, 22])
def test_pairs_with_formula_scores(seed):
    rng = random.Random(seed)
    doc = {
        "kind": "matching",
        "institutions": random_profiles(rng, 30),
        "weights": {"cross_zone_bonus": 0.2},
        "rules": {"allowed_zone_pairs": [["west", "east"], ["east", "east"]]},
    }
    assert agree(doc) > 0


def float_groups_doc(seed: int, n: int, decimals: int | None) -> dict[str, Any]:
    rng = random.Random(seed)
    scores = random_scored_pairs(rng, n, 0.7, low=0.0, high=3.0)
    if decimals is not None:
        for s in scores:
            s["score"] = round(s["score"], decimals)
    return {
        "kind": "matching",
        "mode": "groups",
        "institutions": [
            {"id": x, "hub": k % 4 == 0, "region": "Sichuan" if k < 7 else "Chongqing"}
            for k, x in enumerate(ids(n))
        ],
        "scores": scores,
        "group": {"min_size": 2, "max_size": 4},
    }


@pytest.mark.parametrize(("seed", "n"), [(31, 10), (32, 12)])
def test_groups_with_six_decimal_scores(seed, n):
    agree(float_groups_doc(seed, n, decimals=6))


@pytest.mark.parametrize(("seed", "n"), [(33, 10), (34, 12)])
def test_groups_with_full_precision_scores(seed, n):
    agree(float_groups_doc(seed, n, decimals=None))


def test_groups_with_hubs_regions_and_cover_all():
    doc = float_groups_doc(35, 12, decimals=3)
    doc["group"] = {"min_size": 2, "max_size": 3, "min_hubs": 1, "same_region": True}
    agree(doc)
    doc["group"] = {"min_size": 2, "max_size": 4, "cover_all": True}
    doc["rules"] = {"forbidden": [["u00", "u01"]], "required": [["u02", "u03"]]}
    agree(doc)


def test_groups_cbc_mip_start():
    """Regression: with solver cbc this feasible consortium instance (optimum 76.909924981 by
    brute force) came back infeasible: CBC, warm-started with an incumbent that left an
    institution uncovered, reported that restricted answer as optimal."""
    rng = random.Random(2142)
    doc = random_groups_doc(rng, rng.randint(4, 9), decimals=(1, 4, 9))
    expected = brute_force_groups(doc)
    assert expected is not None
    assert agree(doc) == pytest.approx(expected[0], abs=TOL)


def test_groups_with_formula_scores():
    rng = random.Random(36)
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": random_profiles(rng, 11),
        "group": {"min_size": 3, "max_size": 4},
    }
    agree(doc)
