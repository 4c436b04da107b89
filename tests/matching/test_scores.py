"""The score formula of FORMATS section 3 against values computed by hand, and the per-pair
breakdown reported in the solution."""

from __future__ import annotations

import math
import random

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    assert_verified,
    contract_candidates,
    formula_terms,
    institutions_of,
    random_profiles,
    solve_doc,
)

ONLY_NEED = {"need": 1.0, "complementarity": 0.0, "distance_per_1000km": 0.0}
ONLY_COMPLEMENTARITY = {"need": 0.0, "complementarity": 1.0, "distance_per_1000km": 0.0}
ONLY_DISTANCE = {"need": 0.0, "complementarity": 0.0, "distance_per_1000km": 1.0}

BEIJING = {"lat": 39.9042, "lon": 116.4074}
SHANGHAI = {"lat": 31.2304, "lon": 121.4737}
CHENGDU = {"lat": 30.5728, "lon": 104.0668}
CHONGQING = {"lat": 29.5630, "lon": 106.5516}


def two(a: dict, b: dict, weights: dict | None = None, **extra) -> dict:
    doc = {"kind": "matching", "institutions": [{"id": "a", **a}, {"id": "b", **b}], **extra}
    if weights is not None:
        doc["weights"] = weights
    # A very low min_score keeps the pair a candidate whatever its score, and requiring it
    # makes the solution report it even when its score is not positive.
    doc.setdefault("rules", {"min_score": -100.0, "required": [["a", "b"]]})
    return doc


def only_pair(doc: dict) -> dict:
    solution = solve_doc(doc)
    assert_verified(solution)
    (pair,) = solution.solution["pairs"]
    return pair


def law_of_cosines_km(p: dict, q: dict) -> float:
    """Great-circle distance computed independently (spherical law of cosines, R = 6371 km)."""
    f1, f2 = math.radians(p["lat"]), math.radians(q["lat"])
    dl = math.radians(q["lon"] - p["lon"])
    c = math.sin(f1) * math.sin(f2) + math.cos(f1) * math.cos(f2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, c)))


def test_need_by_hand():
    a = {"strengths": {"x": 0.2, "y": 0.7}, "needs": {"x": 0.8, "z": 0.9}}
    b = {"strengths": {"x": 0.9, "y": 0.4}, "needs": {"y": 0.5}}
    # a needs x where b is 0.7 stronger; b needs y where a is 0.3 stronger; nobody is strong
    # in z; a's weaker y and b's weaker x count nothing for the other side.
    expected = 0.8 * (0.9 - 0.2) + 0.5 * (0.7 - 0.4)
    assert expected == pytest.approx(0.71)
    pair = only_pair(two(a, b, ONLY_NEED))
    assert pair["breakdown"]["need"] == pytest.approx(expected, abs=1e-12)
    assert pair["score"] == pytest.approx(expected, abs=1e-12)


def test_need_counts_only_the_needing_side():
    # b is stronger in x, but only b needs x: there is nothing a can offer there.
    pair = only_pair(two({"strengths": {"x": 0.1}}, {"strengths": {"x": 0.9}, "needs": {"x": 1}}))
    assert pair["breakdown"]["need"] == 0.0


def test_complementarity_is_one_minus_cosine_by_hand():
    a = {"strengths": {"x": 0.2, "y": 0.7}}
    b = {"strengths": {"x": 0.9, "y": 0.4}}
    expected = 1 - (0.2 * 0.9 + 0.7 * 0.4) / (
        math.sqrt(0.2**2 + 0.7**2) * math.sqrt(0.9**2 + 0.4**2)
    )
    assert expected == pytest.approx(0.358445, abs=1e-6)
    pair = only_pair(two(a, b, ONLY_COMPLEMENTARITY))
    assert pair["breakdown"]["complementarity"] == pytest.approx(expected, abs=1e-12)
    assert pair["score"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("sa", "sb", "expected"),
    [
        ({"x": 1.0}, {"y": 0.5}, 1.0),  # orthogonal profiles
        ({"x": 0.2, "y": 0.4}, {"x": 0.1, "y": 0.2}, 0.0),  # parallel, different sizes
        ({}, {"x": 1.0}, 0.0),  # an all-zero vector
        ({"x": 0.0, "y": 0.0}, {"x": 1.0}, 0.0),  # all zero, written out
        ({}, {}, 0.0),
    ],
)
def test_complementarity_special_cases(sa, sb, expected):
    pair = only_pair(two({"strengths": sa}, {"strengths": sb}, ONLY_COMPLEMENTARITY))
    assert pair["breakdown"]["complementarity"] == pytest.approx(expected, abs=1e-12)


def test_great_circle_distance_beijing_shanghai():
    km = law_of_cosines_km(BEIJING, SHANGHAI)
    assert 1060 < km < 1075  # the well-known ~1,067 km
    pair = only_pair(two({"location": BEIJING}, {"location": SHANGHAI}, ONLY_DISTANCE))
    assert pair["breakdown"]["distance"] == pytest.approx(km / 1000, abs=1e-9)
    assert pair["score"] == pytest.approx(-km / 1000, abs=1e-9)


def test_great_circle_distance_chengdu_chongqing_with_default_weight():
    km = law_of_cosines_km(CHENGDU, CHONGQING)
    assert 250 < km < 290
    pair = only_pair(two({"location": CHENGDU}, {"location": CHONGQING}))
    assert pair["breakdown"]["distance"] == pytest.approx(km / 1000, abs=1e-9)
    assert pair["score"] == pytest.approx(-0.2 * km / 1000, abs=1e-9)


def test_distance_is_zero_when_a_location_is_missing():
    pair = only_pair(two({"location": BEIJING}, {}, ONLY_DISTANCE))
    assert pair["breakdown"]["distance"] == 0.0
    assert pair["score"] == 0.0


@pytest.mark.parametrize(
    ("za", "zb", "bonus"),
    [("west", "east", 0.3), ("west", "west", 0.0), ("west", None, 0.0), (None, None, 0.0)],
)
def test_cross_zone_bonus_only_when_both_zones_set_and_differ(za, zb, bonus):
    weights = {"need": 0.0, "complementarity": 0.0, "cross_zone_bonus": 0.3}
    a = {} if za is None else {"zone": za}
    b = {} if zb is None else {"zone": zb}
    pair = only_pair(two(a, b, weights))
    assert pair["breakdown"]["bonus"] == bonus
    assert pair["score"] == pytest.approx(bonus, abs=1e-12)


def test_whole_formula_with_custom_weights():
    a = {
        "zone": "west",
        "location": CHENGDU,
        "strengths": {"medicine": 0.3, "engineering": 0.9},
        "needs": {"medicine": 0.8},
    }
    b = {
        "zone": "east",
        "location": SHANGHAI,
        "strengths": {"medicine": 0.95, "finance": 0.6},
        "needs": {"engineering": 0.5, "finance": 0.1},
    }
    weights = {
        "need": 2.0,
        "complementarity": 0.25,
        "distance_per_1000km": 0.5,
        "cross_zone_bonus": 0.3,
    }
    need = 0.8 * (0.95 - 0.3) + 0.5 * (0.9 - 0.0)  # finance: b is the strong side
    cosine = (0.3 * 0.95) / (math.sqrt(0.3**2 + 0.9**2) * math.sqrt(0.95**2 + 0.6**2))
    distance = law_of_cosines_km(CHENGDU, SHANGHAI) / 1000
    expected = 2.0 * need + 0.25 * (1 - cosine) - 0.5 * distance + 0.3
    pair = only_pair(two(a, b, weights))
    assert pair["breakdown"] == pytest.approx(
        {"need": need, "complementarity": 1 - cosine, "distance": distance, "bonus": 0.3},
        abs=1e-9,
    )
    assert pair["score"] == pytest.approx(expected, abs=1e-9)


def test_explicit_scores_are_used_as_given_without_breakdown():
    doc = {
        "kind": "matching",
        "institutions": [
            {"id": "a", "strengths": {"x": 1.0}},
            {"id": "b", "needs": {"x": 1.0}},
        ],
        "scores": [{"a": "b", "b": "a", "score": 0.123456789}],
    }
    solution = solve_doc(doc)
    (pair,) = solution.solution["pairs"]
    assert pair["score"] == 0.123456789
    assert pair.get("breakdown") is None
    assert solution.objective == 0.123456789


def test_every_formula_pair_matches_the_contract_on_random_profiles():
    """With unlimited capacity every positive candidate is selected, so the solution lists
    the whole candidate set: each score and breakdown is checked against the oracle."""
    rng = random.Random(7)
    institutions = random_profiles(rng, 14)
    for x in institutions:
        x["capacity"] = 13
    doc = {
        "kind": "matching",
        "institutions": institutions,
        "weights": {"cross_zone_bonus": 0.15},
    }
    expected = contract_candidates(doc)
    assert len(expected) > 20
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL
    assert_verified(solution)
    by_id = {x["id"]: x for x in institutions_of(doc)}
    reported = {frozenset((p["a"], p["b"])): p for p in solution.solution["pairs"]}
    assert set(reported) == set(expected)
    for key, pair in reported.items():
        terms = formula_terms(doc, by_id[pair["a"]], by_id[pair["b"]])
        assert pair["score"] == pytest.approx(expected[key], abs=1e-9)
        for term in ("need", "complementarity", "distance", "bonus"):
            assert pair["breakdown"][term] == pytest.approx(terms[term], abs=1e-9), term
    assert solution.objective == pytest.approx(sum(expected.values()), abs=1e-6)


IDENTICAL = {"d": 0.7, "e": 0.2, "a": 0.9, "b": 0.7}


def test_identical_profiles_do_not_fail_verification():
    """Regression: two institutions with the same strengths profile got a complementarity of
    +-1e-16 from round-off, computed differently by the candidate builder (numpy) and the
    verifier (math); the pair was a candidate for one and not the other, and the solve ended
    as status error ("pair (x, y) is not a candidate under the rules")."""
    doc = {
        "kind": "matching",
        "institutions": [{"id": "x", "strengths": IDENTICAL}, {"id": "y", "strengths": IDENTICAL}],
    }
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.verification.valid
    assert solution.solution["pairs"] == []  # score 0 is not above min_score 0
    doc["rules"] = {"min_score": -1.0, "required": [["x", "y"]]}
    pair = only_pair(doc)
    assert pair["breakdown"]["complementarity"] == 0.0
    assert pair["score"] == 0.0


def test_identical_profiles_in_groups_mode():
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [
            {"id": "x", "strengths": IDENTICAL},
            {"id": "y", "strengths": dict(IDENTICAL)},
            {"id": "z", "strengths": {"q": 1.0}},
        ],
        "group": {"min_size": 2, "max_size": 3},
    }
    solution = solve_doc(doc)
    assert_verified(solution)
    assert solution.objective == pytest.approx(2 * 0.5, abs=1e-9)  # z is orthogonal to both
