"""Property: for any small matching instance, ``solve`` returns a verified optimum equal to the
brute-force optimum, with one explanation per institution left out, or ``infeasible`` with
explanations when brute force finds nothing. Never ``error``, never a crash."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.core.envelope import Status
from tests.matching.helpers import TOL, brute_force_groups, brute_force_pairs, solve_doc

NAMES = ["a", "b", "c", "d", "e", "f", "g"]
DISCIPLINES = ["medicine", "engineering", "ecology"]
TYPES = ["university", "research_institute", "enterprise", "government"]
CITIES = [
    {"lat": 29.56, "lon": 106.46},  # Chongqing
    {"lat": 30.57, "lon": 104.07},  # Chengdu
    {"lat": 43.83, "lon": 87.62},  # Urumqi
    {"lat": 31.23, "lon": 121.47},  # Shanghai
]
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Profiles as planners write them: a few decimals. (Values below ~1e-154 square to zero, so
# such a profile counts as all-zero in the cosine; not a case worth a contract.)
unit = st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]) | st.floats(0.0, 1.0).map(lambda v: round(v, 6))
profile = st.dictionaries(st.sampled_from(DISCIPLINES), unit, max_size=3)


@st.composite
def institution(draw, name: str) -> dict[str, Any]:
    capacity = draw(st.integers(0, 3))
    inst: dict[str, Any] = {
        "id": name,
        "capacity": capacity,
        "min_partners": draw(st.sampled_from([0, 0, 0, 0, 0, min(1, capacity), capacity])),
        "hub": draw(st.booleans()),
        "strengths": draw(profile),
        "needs": draw(profile),
        "type": draw(st.sampled_from(TYPES[:2] + TYPES)),
    }
    for key, values in (
        ("region", ["Sichuan", "Chongqing"]),
        ("zone", ["west", "east"]),
        ("location", CITIES),
    ):
        value = draw(st.none() | st.sampled_from(values))
        if value is not None:
            inst[key] = value
    return inst


@st.composite
def matching_instances(draw) -> dict[str, Any]:
    mode = draw(st.sampled_from(["pairs", "groups"]))
    n = draw(st.integers(2, 6 if mode == "pairs" else 7))
    names = NAMES[:n]
    pairs = [list(p) for p in itertools.combinations(names, 2)]
    doc: dict[str, Any] = {
        "kind": "matching",
        "mode": mode,
        "institutions": [draw(institution(x)) for x in names],
    }
    if draw(st.booleans()):
        listed = draw(st.lists(st.sampled_from(pairs), unique_by=tuple, max_size=len(pairs)))
        score = st.floats(-2.0, 10.0, allow_nan=False) | st.sampled_from([0.0, 1.0, 2.5])
        doc["scores"] = [{"a": a, "b": b, "score": draw(score)} for a, b in listed]
    else:
        doc["weights"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "need": st.sampled_from([0.0, 1.0, 2.0]),
                    "distance_per_1000km": st.sampled_from([0.0, 0.2, 1.0]),
                    "cross_zone_bonus": st.sampled_from([0.0, 0.3]),
                },
            )
        )
    doc["rules"] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "allowed_zone_pairs": st.sampled_from(
                    [None, [["west", "east"]], [["west", "east"], ["west", "west"]]]
                ),
                "allowed_type_pairs": st.sampled_from(
                    [None, [["university", "enterprise"], ["university", "university"]]]
                ),
                "same_region": st.booleans(),
                "max_distance_km": st.sampled_from([None, 300.0, 1500.0]),
                "min_score": st.sampled_from([0.0, -0.5, 0.3]),
                "forbidden": st.lists(st.sampled_from(pairs), max_size=2),
                "required": st.lists(st.sampled_from(pairs), max_size=2),
            },
        )
    )
    if mode == "groups":
        min_size = draw(st.integers(1, 3))
        doc["group"] = {
            "min_size": min_size,
            "max_size": draw(st.integers(max(min_size, 2), 4)),
            "min_hubs": draw(st.sampled_from([0, 0, 1, 2])),
            "same_region": draw(st.booleans()),
            "cover_all": draw(st.booleans()),
        }
    return doc


@PROPERTY_SETTINGS
@given(doc=matching_instances())
def test_solve_verifies_and_matches_brute_force_or_is_infeasible(doc):
    solution = solve_doc(doc)
    assert solution.status not in (Status.ERROR, Status.INVALID), solution.explanations
    oracle = brute_force_pairs if doc["mode"] == "pairs" else brute_force_groups
    expected = oracle(doc)
    if expected is None:
        assert solution.status == Status.INFEASIBLE, solution.solution
        assert solution.explanations
    else:
        assert solution.status == Status.OPTIMAL, solution.explanations
        assert solution.verification.checked and solution.verification.valid
        assert solution.objective == pytest.approx(expected[0], abs=TOL)
        left_out = solution.solution["unmatched" if doc["mode"] == "pairs" else "ungrouped"]
        assert sorted(e.subject for e in solution.explanations) == sorted(left_out)
