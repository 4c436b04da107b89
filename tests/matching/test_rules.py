"""One small test per hard rule of FORMATS section 3.

Each test solves a tiny instance where the rule binds (the answer differs from the same
instance without the rule) and asserts the exact outcome; where a rule can make an instance
infeasible, a variant shows that too.
"""

from __future__ import annotations

from typing import Any

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    CHAIN,
    P,
    assert_verified,
    brute_force_groups,
    brute_force_pairs,
    explanation_by_subject,
    group_set,
    groups,
    matching,
    pair_set,
    set_inst,
    solve_doc,
    with_rules,
)

CHENGDU = {"lat": 30.5728, "lon": 104.0668}
CHONGQING = {"lat": 29.5630, "lon": 106.5516}
URUMQI = {"lat": 43.8256, "lon": 87.6168}


def solved(doc: dict[str, Any]):
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL, [e.detail for e in solution.explanations]
    assert_verified(solution)
    return solution


def infeasible(doc: dict[str, Any]):
    solution = solve_doc(doc)
    assert solution.status == Status.INFEASIBLE
    assert solution.solution is None
    assert solution.explanations
    return solution


# ------------------------------------------------------------------ pairs mode


def test_chain_without_extra_rules():
    s = solved(CHAIN)
    assert pair_set(s) == {P("a", "b")}
    assert s.objective == 5
    assert s.solution["unmatched"] == ["c"]


def test_capacity_binds():
    star = matching(["a", "b", "c"], {"a-b": 2, "a-c": 1.5})
    assert pair_set(solved(star)) == {P("a", "b")}
    s = solved(set_inst(star, "a", capacity=2))
    assert pair_set(s) == {P("a", "b"), P("a", "c")}
    assert s.objective == 3.5
    s = solved(set_inst(star, "a", capacity=0))
    assert pair_set(s) == set()
    assert s.objective == 0
    assert s.solution["unmatched"] == ["a", "b", "c"]


def test_min_partners_binds():
    s = solved(set_inst(CHAIN, "c", min_partners=1))
    assert pair_set(s) == {P("b", "c")}
    assert s.objective == 1


def test_min_partners_conflict_is_infeasible():
    doc = set_inst(set_inst(CHAIN, "c", min_partners=1), "a", min_partners=1)
    assert brute_force_pairs(doc) is None
    s = infeasible(doc)
    assert {e.code for e in s.explanations} & {"min_partners_conflict", "min_partners_unreachable"}


def test_min_partners_with_too_few_candidates_is_infeasible():
    s = infeasible(set_inst(CHAIN, "a", capacity=2, min_partners=2))
    (e,) = s.explanations
    assert (e.subject, e.code) == ("a", "min_partners_unreachable")


def test_required_binds():
    s = solved(with_rules(CHAIN, required=[["c", "b"]]))
    assert pair_set(s) == {P("b", "c")}
    assert s.objective == 1


def test_required_pair_that_is_not_a_candidate_is_infeasible_naming_the_pair():
    s = infeasible(with_rules(CHAIN, required=[["a", "c"]]))
    (e,) = s.explanations
    assert e.code == "required_not_candidate"
    assert set(e.related) == {"a", "c"}
    assert "a" in e.subject and "c" in e.subject
    assert "(a, c)" in e.detail


def test_required_pairs_over_capacity_are_infeasible():
    s = infeasible(with_rules(CHAIN, required=[["a", "b"], ["b", "c"]]))
    assert any(e.subject == "b" and e.code == "required_over_capacity" for e in s.explanations)
    s = solved(set_inst(with_rules(CHAIN, required=[["a", "b"], ["b", "c"]]), "b", capacity=2))
    assert pair_set(s) == {P("a", "b"), P("b", "c")}


def test_required_pair_listed_twice_counts_once():
    """Regression: a required pair written twice ([a, b] and [b, a]) was counted as two
    required pairs against a's capacity, and a feasible instance came back infeasible
    ("required_over_capacity")."""
    s = solved(with_rules(CHAIN, required=[["b", "c"], ["c", "b"]]))
    assert pair_set(s) == {P("b", "c")}


def test_forbidden_binds():
    s = solved(with_rules(CHAIN, forbidden=[["b", "a"]]))
    assert pair_set(s) == {P("b", "c")}
    assert s.objective == 1


def test_forbidden_and_required_together_is_infeasible():
    s = infeasible(with_rules(CHAIN, forbidden=[["a", "b"]], required=[["a", "b"]]))
    (e,) = s.explanations
    assert e.code == "required_not_candidate"
    assert "forbidden" in e.detail


def test_forbidden_with_no_candidate_left_is_not_an_error():
    """Regression: with a forbidden list and no surviving candidate pair at all, the
    candidate builder indexed with an empty float array and the solve ended in status error
    (IndexError: arrays used as indices must be of integer (or boolean) type)."""
    doc = with_rules(matching(["a", "b", "c"], {"a-b": -1.0}), forbidden=[["a", "c"]])
    s = solved(doc)
    assert pair_set(s) == set()
    groups_doc = {**doc, "mode": "groups", "group": {"min_size": 2, "max_size": 3}}
    assert solved(groups_doc).objective == 0


def zoned(*specs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"id": i, "zone": z} for i, z in specs]


def test_allowed_zone_pairs_binds():
    doc = matching(
        zoned(("w1", "west"), ("w2", "west"), ("e1", "east"), ("e2", "east")),
        {"w1-w2": 10, "e1-e2": 10, "w1-e1": 1, "w2-e2": 2, "w1-e2": 1},
    )
    assert pair_set(solved(doc)) == {P("w1", "w2"), P("e1", "e2")}
    # the order inside an allowed pair does not matter
    for allowed in ([["west", "east"]], [["east", "west"]]):
        s = solved(with_rules(doc, allowed_zone_pairs=allowed))
        assert pair_set(s) == {P("w1", "e1"), P("w2", "e2")}
        assert s.objective == 3
    s = solved(with_rules(doc, allowed_zone_pairs=[["west", "west"]]))
    assert pair_set(s) == {P("w1", "w2")}


def test_allowed_zone_pairs_excludes_institutions_without_zone():
    doc = matching([{"id": "w", "zone": "west"}, "x"], {"w-x": 1})
    assert pair_set(solved(doc)) == {P("w", "x")}
    s = solved(with_rules(doc, allowed_zone_pairs=[["west", "east"]]))
    assert pair_set(s) == set()


def test_allowed_type_pairs_binds():
    doc = matching(
        [
            {"id": "u1"},
            {"id": "u2", "type": "university"},
            {"id": "ent", "type": "enterprise"},
            {"id": "gov", "type": "government"},
        ],
        {"u1-u2": 10, "u1-ent": 1, "u2-gov": 2, "ent-gov": 7},
    )
    assert pair_set(solved(doc)) == {P("u1", "u2"), P("ent", "gov")}
    s = solved(
        with_rules(
            doc, allowed_type_pairs=[["enterprise", "university"], ["university", "government"]]
        )
    )
    assert pair_set(s) == {P("u1", "ent"), P("u2", "gov")}
    assert s.objective == 3


def test_same_region_binds():
    doc = matching(
        [
            {"id": "a", "region": "Sichuan"},
            {"id": "b", "region": "Sichuan"},
            {"id": "c", "region": "Chongqing"},
            {"id": "d"},
        ],
        {"a-c": 5, "b-d": 5, "a-b": 1, "c-d": 1},
    )
    assert solved(doc).objective == 10
    s = solved(with_rules(doc, same_region=True))
    assert pair_set(s) == {P("a", "b")}  # d has no region: it shares none
    assert s.objective == 1


def test_max_distance_km_binds():
    doc = matching(
        [
            {"id": "cd", "location": CHENGDU},
            {"id": "cq", "location": CHONGQING},
            {"id": "ur", "location": URUMQI},
        ],
        {"cd-ur": 5, "cd-cq": 1, "cq-ur": 0.5},
    )
    assert pair_set(solved(doc)) == {P("cd", "ur")}
    s = solved(with_rules(doc, max_distance_km=500))  # Chengdu-Chongqing is ~270 km
    assert pair_set(s) == {P("cd", "cq")}
    s = solved(with_rules(doc, max_distance_km=100))
    assert pair_set(s) == set()


def test_max_distance_km_removes_pairs_without_a_location():
    doc = matching([{"id": "cd", "location": CHENGDU}, {"id": "nowhere"}], {"cd-nowhere": 1})
    assert pair_set(solved(doc)) == {P("cd", "nowhere")}
    s = solved(with_rules(doc, max_distance_km=20000))
    assert pair_set(s) == set()
    (e,) = explanation_by_subject(s)["nowhere"]
    assert e.code == "no_candidate"
    assert "max_distance_km" in e.detail


def test_min_score_binds_and_is_strict():
    doc = matching(["a", "b", "c", "d"], {"a-b": 0.5, "c-d": 0.3})
    assert solved(doc).objective == pytest.approx(0.8)
    s = solved(with_rules(doc, min_score=0.3))  # 0.3 is not above 0.3
    assert pair_set(s) == {P("a", "b")}
    s = solved(with_rules(doc, min_score=0.6))
    assert pair_set(s) == set()


def test_default_min_score_drops_non_positive_scores():
    s = solved(matching(["a", "b", "c", "d"], {"a-b": 0.0, "c-d": -2.0}))
    assert pair_set(s) == set()
    s = infeasible(with_rules(matching(["a", "b"], {"a-b": 0.0}), required=[["a", "b"]]))
    assert "min_score" in s.explanations[0].detail


# ------------------------------------------------------------------ groups mode

FOUR = ["a", "b", "c", "d"]
ALL_ONES = {"a-b": 1, "a-c": 1, "a-d": 1, "b-c": 1, "b-d": 1, "c-d": 1}


@pytest.mark.parametrize(
    ("max_size", "objective", "sizes"), [(4, 6, [4]), (3, 3, [3]), (2, 2, [2, 2])]
)
def test_group_max_size_binds(max_size, objective, sizes):
    s = solved(groups(FOUR, ALL_ONES, min_size=2, max_size=max_size))
    assert s.objective == objective
    assert sorted(len(g["members"]) for g in s.solution["groups"]) == sizes


def test_group_min_size_binds():
    doc = with_rules(
        groups(FOUR, {"a-b": 2, "c-d": 2, "b-c": 0.5}, min_size=2, max_size=4),
        forbidden=[["a", "c"], ["a", "d"]],
    )
    s = solved(doc)
    assert group_set(s) == {P("a", "b"), P("c", "d")}
    assert s.objective == 4
    doc["group"]["min_size"] = 3  # a's only allowed partner is b: a group of 3 cannot hold a
    s = solved(doc)
    assert group_set(s) == {frozenset("bcd")}
    assert s.objective == 2.5
    assert s.solution["ungrouped"] == ["a"]
    doc["group"]["cover_all"] = True
    s = infeasible(doc)
    assert any(e.subject == "a" for e in s.explanations)


def test_min_hubs_binds():
    doc = groups(
        [{"id": "a", "hub": True}, "b", "c", "d"],
        {"b-c": 5, "c-d": 5, "b-d": 5, "a-b": 1},
        min_size=2,
        max_size=3,
    )
    s = solved(doc)
    assert group_set(s) == {frozenset("bcd")}
    assert s.objective == 15
    doc["group"]["min_hubs"] = 1
    s = solved(doc)
    assert s.objective == 6
    ((members,),) = [group_set(s)]
    assert {"a", "b"} <= members and len(members) == 3
    doc["group"]["min_hubs"] = 2
    assert solved(doc).solution["groups"] == []
    doc["group"]["cover_all"] = True
    s = infeasible(doc)
    assert any("min_hubs" in e.detail for e in s.explanations)


def test_group_same_region_binds():
    doc = groups(
        [
            {"id": "a", "region": "Sichuan"},
            {"id": "b", "region": "Sichuan"},
            {"id": "c", "region": "Chongqing"},
            {"id": "d", "region": "Chongqing"},
        ],
        {"a-c": 5, "b-d": 5, "a-b": 1, "c-d": 1},
        min_size=2,
        max_size=2,
    )
    assert group_set(solved(doc)) == {P("a", "c"), P("b", "d")}
    doc["group"]["same_region"] = True
    s = solved(doc)
    assert group_set(s) == {P("a", "b"), P("c", "d")}
    assert s.objective == 2


def test_cover_all_binds():
    doc = with_rules(
        groups(FOUR, {"a-b": 5, "a-c": 1, "b-d": 1}, min_size=2, max_size=2),
        forbidden=[["c", "d"]],
    )
    s = solved(doc)
    assert group_set(s) == {P("a", "b")}
    assert s.solution["ungrouped"] == ["c", "d"]
    doc["group"]["cover_all"] = True
    s = solved(doc)
    assert group_set(s) == {P("a", "c"), P("b", "d")}
    assert s.objective == 2
    assert s.solution["ungrouped"] == []


def test_cover_all_with_sizes_that_cannot_partition_is_infeasible():
    doc = groups(["a", "b", "c", "d", "e"], ALL_ONES, min_size=3, max_size=4, cover_all=True)
    assert brute_force_groups(doc) is None
    s = infeasible(doc)
    assert any("cover_all" in e.detail for e in s.explanations)


def test_group_forbidden_binds():
    doc = groups(["a", "b", "c"], {"a-b": 1, "a-c": 1, "b-c": 1}, min_size=2, max_size=3)
    assert solved(doc).objective == 3
    s = solved(with_rules(doc, forbidden=[["a", "b"]]))
    assert s.objective == 1
    (members,) = group_set(s)
    assert members in (P("a", "c"), P("b", "c"))


def test_group_required_binds():
    doc = groups(FOUR, {"a-b": 5, "c-d": 5, "b-d": 1}, min_size=2, max_size=2)
    assert solved(doc).objective == 10
    s = solved(with_rules(doc, required=[["a", "c"]]))
    assert group_set(s) == {P("a", "c"), P("b", "d")}
    assert s.objective == 1
    s = infeasible(with_rules(doc, required=[["a", "c"]], forbidden=[["c", "a"]]))
    assert s.explanations[0].code == "required_and_forbidden"
