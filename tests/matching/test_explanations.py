"""Explanations: a reason for every institution left out, and the conflicting rules of an
infeasible instance."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    CHAIN,
    P,
    assert_verified,
    explanation_by_subject,
    groups,
    matching,
    pair_set,
    random_capacitated_doc,
    random_groups_doc,
    set_inst,
    solve_doc,
    with_rules,
)

UNMATCHED_CODES = {"capacity_zero", "no_candidate", "partners_taken", "not_selected"}
UNGROUPED_CODES = {
    "no_feasible_group",
    "no_candidate",
    "no_gain",
    "groups_better_without",
    "no_viable_group",
}


def only_explanation(solution, subject: str):
    found = explanation_by_subject(solution).get(subject, [])
    assert len(found) == 1, [e.model_dump() for e in solution.explanations]
    return found[0]


def test_capacity_zero():
    s = solve_doc(set_inst(CHAIN, "b", capacity=0))
    assert_verified(s)
    assert s.solution["unmatched"] == ["a", "b", "c"]
    assert only_explanation(s, "b").code == "capacity_zero"
    # a and c had b as their only candidate, and b has no room at all
    for x in ("a", "c"):
        e = only_explanation(s, x)
        assert e.code == "partners_taken"
        assert e.related == ["b"]
        assert "capacity 0" in e.detail


def test_partners_taken_names_the_partner_and_who_took_it():
    s = solve_doc(CHAIN)
    e = only_explanation(s, "c")
    assert e.code == "partners_taken"
    assert e.related == ["b"]
    assert "b" in e.detail and "a" in e.detail  # b is taken by a, in a better pair


def test_partners_taken_lists_every_held_partner():
    doc = matching(["x", "p", "q", "r", "s"], {"p-r": 9, "q-s": 9, "x-p": 1, "x-q": 2})
    s = solve_doc(doc)
    e = only_explanation(s, "x")
    assert e.code == "partners_taken"
    assert sorted(e.related) == ["p", "q"]
    assert "r" in e.detail and "s" in e.detail


RULE_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    # (rule named in the explanation, rules, institutions); "x" is left without candidates
    (
        "allowed_zone_pairs",
        {"allowed_zone_pairs": [["west", "east"]]},
        [{"id": "x", "zone": "central"}, {"id": "y", "zone": "west"}, {"id": "z", "zone": "east"}],
    ),
    (
        "allowed_type_pairs",
        {"allowed_type_pairs": [["university", "enterprise"]]},
        [{"id": "x", "type": "government"}, {"id": "y"}, {"id": "z", "type": "enterprise"}],
    ),
    (
        "same_region",
        {"same_region": True},
        [
            {"id": "x", "region": "Tibet"},
            {"id": "y", "region": "Gansu"},
            {"id": "z", "region": "Gansu"},
        ],
    ),
    (
        "max_distance_km",
        {"max_distance_km": 300},
        [
            {"id": "x", "location": {"lat": 43.8, "lon": 87.6}},
            {"id": "y", "location": {"lat": 30.6, "lon": 104.1}},
            {"id": "z", "location": {"lat": 29.6, "lon": 106.6}},
        ],
    ),
    ("min_score", {"min_score": 0.5}, [{"id": "x"}, {"id": "y"}, {"id": "z"}]),
    ("forbidden", {"forbidden": [["x", "y"], ["z", "x"]]}, [{"id": "x"}, {"id": "y"}, {"id": "z"}]),
]


@pytest.mark.parametrize(
    ("rule", "rules", "institutions"), RULE_CASES, ids=[c[0] for c in RULE_CASES]
)
def test_no_candidate_names_the_rule(rule, rules, institutions):
    # x-y and x-z score 0.3; y-z scores 1; only `rule` removes x's pairs
    doc = matching(institutions, {"x-y": 0.3, "x-z": 0.3, "y-z": 1.0}, rules=rules)
    s = solve_doc(doc)
    assert_verified(s)
    e = only_explanation(s, "x")
    assert e.code == "no_candidate"
    assert rule in e.detail
    assert re.search(rf"\b2 [^;]*{rule}", e.detail)  # both of x's pairs, counted


def test_no_candidate_when_no_score_is_listed():
    s = solve_doc(matching(["a", "b", "loner"], {"a-b": 1}))
    e = only_explanation(s, "loner")
    assert e.code == "no_candidate"
    assert "no score listed" in e.detail


def random_solved(make, seeds):
    for seed in seeds:
        s = solve_doc(make(random.Random(seed)))
        if s.status == Status.OPTIMAL:
            yield s


def test_every_unmatched_institution_is_explained_once():
    checked = 0
    for s in random_solved(lambda r: random_capacitated_doc(r, r.randint(5, 9)), range(300, 330)):
        unmatched = s.solution["unmatched"]
        # Blocking pairs are reasons about pairs, given besides (test_stability.py).
        reasons = [e for e in s.explanations if e.code not in ("blocking_pair", "blocking_pairs")]
        subjects = [e.subject for e in reasons]
        assert sorted(subjects) == sorted(unmatched)
        assert {e.code for e in reasons} <= UNMATCHED_CODES
        assert all(e.detail.strip() for e in reasons)
        checked += len(unmatched)
    assert checked > 20


def test_every_ungrouped_institution_is_explained_once():
    checked = 0
    for s in random_solved(lambda r: random_groups_doc(r, r.randint(5, 9)), range(400, 430)):
        ungrouped = s.solution["ungrouped"]
        assert sorted(e.subject for e in s.explanations) == sorted(ungrouped)
        assert {e.code for e in s.explanations} <= UNGROUPED_CODES
        checked += len(ungrouped)
    assert checked > 10


def test_ungrouped_reasons():
    doc = groups(
        [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "far", "region": "Tibet"}, {"id": "zero"}],
        {"a-b": 3, "a-c": 2, "b-c": 2, "zero-a": -1},
        min_size=2,
        max_size=3,
    )
    s = solve_doc(doc)
    assert_verified(s)
    assert sorted(s.solution["ungrouped"]) == ["far", "zero"]
    # zero's only scored pair is below min_score, far has none: neither has a candidate
    assert only_explanation(s, "zero").code == "no_candidate"
    assert only_explanation(s, "far").code == "no_candidate"
    doc["rules"] = {"min_score": -2}
    s = solve_doc(doc)
    assert only_explanation(s, "zero").code == "no_gain"  # a candidate, but a negative one
    doc["rules"] = {}
    doc["group"]["max_size"] = 2
    s = solve_doc(doc)
    # a-b is the best pair; c's partners sit in a group that scores more without it
    e = only_explanation(s, "c")
    assert e.code == "groups_better_without"
    assert e.related == [s.solution["groups"][0]["id"]]


def test_explain_false_drops_reasons_but_not_for_infeasible():
    s = solve_doc(CHAIN, explain=False)
    assert s.status == Status.OPTIMAL and s.explanations == []
    s = solve_doc(with_rules(CHAIN, required=[["a", "c"]]), explain=False)
    assert s.status == Status.INFEASIBLE and s.explanations


# ------------------------------------------------------------------ infeasible instances


def test_required_pairs_over_capacity_name_the_institution():
    s = solve_doc(with_rules(CHAIN, required=[["a", "b"], ["c", "b"]]))
    assert s.status == Status.INFEASIBLE
    e = only_explanation(s, "b")
    assert e.code == "required_over_capacity"
    assert "2 required pairs" in e.detail and "capacity is 1" in e.detail


def test_required_pair_against_min_partners_names_one_of_them():
    # a's only seat is required for b, but c needs a partner and a is its only candidate
    doc = with_rules(
        set_inst(matching(["a", "b", "c"], {"a-b": 1, "a-c": 1}), "c", min_partners=1),
        required=[["a", "b"]],
    )
    s = solve_doc(doc)
    assert s.status == Status.INFEASIBLE
    named = {(e.subject, e.code) for e in s.explanations}
    assert named and named <= {("a–b", "required_pair_conflict"), ("c", "min_partners_conflict")}


def test_min_partners_conflict_names_the_institutions():
    # a hub with room for one partner, wanted by two institutions that each need one
    doc = matching(
        [{"id": "hub"}, {"id": "p", "min_partners": 1}, {"id": "q", "min_partners": 1}],
        {"hub-p": 1, "hub-q": 1},
    )
    s = solve_doc(doc)
    assert s.status == Status.INFEASIBLE
    (e,) = s.explanations
    assert e.code == "min_partners_conflict"
    assert e.subject in ("p", "q")


def test_min_partners_unreachable_names_the_removing_rule():
    doc = matching(
        [{"id": "x", "zone": "west", "min_partners": 1}, {"id": "y", "zone": "west"}],
        {"x-y": 1},
        rules={"allowed_zone_pairs": [["west", "east"]]},
    )
    s = solve_doc(doc)
    assert s.status == Status.INFEASIBLE
    e = only_explanation(s, "x")
    assert e.code == "min_partners_unreachable"
    assert "allowed_zone_pairs" in e.detail


def test_odd_count_into_pairs_with_cover_all_is_named():
    s = solve_doc(groups(["a", "b", "c"], {"a-b": 1}, min_size=2, max_size=2, cover_all=True))
    assert s.status == Status.INFEASIBLE
    assert any(
        e.code == "sizes_cannot_partition" and "cover_all" in e.detail for e in s.explanations
    )


def test_cover_all_that_cannot_partition_is_named():
    # five institutions cannot be split into groups of 3 or 4
    s = solve_doc(
        groups(["a", "b", "c", "d", "e"], {"a-b": 1}, min_size=3, max_size=4, cover_all=True)
    )
    assert s.status == Status.INFEASIBLE
    codes = {e.code for e in s.explanations}
    assert "sizes_cannot_partition" in codes
    assert all("cover_all" in e.detail for e in s.explanations if e.code != "coverage_conflict")


def test_cover_all_with_an_institution_that_fits_no_group_names_it():
    doc = groups(
        [{"id": "a", "hub": True}, {"id": "b"}, {"id": "c"}, {"id": "d"}],
        {"a-b": 1},
        min_size=2,
        max_size=2,
        min_hubs=1,
        cover_all=True,
    )
    doc["rules"] = {"forbidden": [["d", "a"]]}
    s = solve_doc(doc)
    assert s.status == Status.INFEASIBLE
    e = only_explanation(s, "d")
    assert e.code == "cannot_be_grouped"
    assert "cover_all" in e.detail and "min_hubs" in e.detail


def test_required_pair_across_regions_is_named():
    doc = groups(
        [
            {"id": "a", "region": "Sichuan"},
            {"id": "b", "region": "Yunnan"},
            {"id": "c", "region": "Sichuan"},
        ],
        {"a-c": 1},
        same_region=True,
    )
    doc["rules"] = {"required": [["a", "b"]]}
    s = solve_doc(doc)
    assert s.status == Status.INFEASIBLE
    codes = {(e.code, tuple(e.related)) for e in s.explanations}
    assert ("required_across_regions", ("a", "b")) in codes


def test_an_unmatched_reason_says_whether_the_side_rules_leave_it_out():
    """Tibet's minimum gives c to b: a would pair with c without it, d would not either way
    (issue #17: reasons name the rule)."""
    doc = {
        "kind": "matching",
        "institutions": [
            {"id": "a", "region": "Sichuan"},
            {"id": "b", "region": "Tibet"},
            {"id": "c", "region": "Yunnan"},
            {"id": "d", "region": "Yunnan"},
        ],
        "scores": [
            {"a": "a", "b": "c", "score": 3.0},
            {"a": "b", "b": "c", "score": 1.0},
            {"a": "d", "b": "c", "score": 0.5},
        ],
        "fairness": {"minimums": [{"group": "Tibet", "matched": 1}]},
    }
    solution = solve_doc(doc)
    assert pair_set(solution) == {P("b", "c")}
    reasons = {e.subject: e for e in solution.explanations}
    assert reasons["a"].code == "partners_taken"
    assert reasons["a"].detail.endswith(
        "; the best plan without the fairness rules (minimums for region Tibet) pairs a with "
        "c: those rules leave it out"
    )
    assert reasons["d"].detail.endswith(
        "; the best plan without the fairness rules (minimums for region Tibet) leaves d "
        "unmatched too: they are not why"
    )
    plain = solve_doc({k: v for k, v in doc.items() if k != "fairness"})
    assert all("without" not in e.detail for e in plain.explanations)
