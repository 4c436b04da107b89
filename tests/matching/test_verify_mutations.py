"""The verifier as judge: a verified matching, broken one rule at a time, is rejected by name.

Pairs mode and groups mode each start from a hand-written solution of a small instance that
sets the rules of contract section 5 (candidate rules, capacities and min_partners,
required and forbidden pairs; sizes, hubs and regions for groups, and cover_all in a test
of its own). Each mutation breaks one rule (a few break a second by nature: a pair selected
twice also exceeds capacities) and names the violation it must produce: the ids involved
and the rule. The verifier's "not a candidate" does not say which candidate rule failed, so
each of those is shown by lifting that one rule: the same broken solution then verifies.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any

import pytest

from optimizer.matching.schema import MatchingInstance
from optimizer.matching.verify import verify
from tests.violations import message_templates, unmatched_templates

from .helpers import formula_terms, institutions_of, solve_doc
from .period_cases import MUTATIONS as PERIOD_MUTATIONS
from .period_cases import periods_doc

VERIFIER = "optimizer.matching.verify"

Doc = dict[str, Any]
Mutation = Callable[[Doc], Doc]

CHENGDU = {"lat": 30.66, "lon": 104.07}
LHASA = {"lat": 29.65, "lon": 91.13}  # about 1,250 km from Chengdu

# ------------------------------------------------------------------ pairs mode


def institution(iid: str, zone: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": iid,
        "zone": zone,
        "type": kind,
        "region": "Sichuan",
        "location": CHENGDU,
        **fields,
    }


WEST, EAST = "west", "east"
UNI, FIRM = "university", "enterprise"
PAIR_INSTITUTIONS = [
    institution("a", WEST, UNI),
    institution("b", EAST, FIRM),
    institution("c", WEST, UNI, capacity=2, min_partners=1),
    institution("d", EAST, FIRM),
    institution("f", EAST, FIRM),
    institution("e", WEST, UNI),
    institution("g", EAST, FIRM),
    # Each of these would be a fine partner for e but for one rule.
    institution("z", WEST, FIRM),  # zone pair west-west
    institution("t", EAST, UNI),  # type pair university-university
    institution("r", EAST, FIRM, region="Chongqing"),  # another region
    institution("far", EAST, FIRM, location=LHASA),  # beyond max_distance_km
    institution("low", EAST, FIRM),  # score at most min_score
    institution("h", EAST, FIRM),  # forbidden with e
    institution("u", EAST, FIRM),  # no listed score with e
]
PAIR_SCORES = {
    ("a", "b"): 0.9,
    ("c", "d"): 0.8,
    ("c", "f"): 0.7,
    ("e", "g"): 0.6,
    ("c", "g"): 0.3,
    ("e", "z"): 0.5,
    ("e", "t"): 0.5,
    ("e", "r"): 0.5,
    ("e", "far"): 0.5,
    ("e", "low"): 0.05,
    ("e", "h"): 0.9,
}
PAIR_RULES: dict[str, Any] = {
    "allowed_zone_pairs": [[WEST, EAST]],
    "allowed_type_pairs": [[UNI, FIRM]],
    "same_region": True,
    "max_distance_km": 500,
    "min_score": 0.1,
    "forbidden": [["e", "h"]],
    "required": [["a", "b"]],
}
# The one rule each would-be partner of e breaks, and the instance with that rule lifted.
LIFTED: dict[str, Callable[[Doc], None]] = {
    "z": lambda d: d["rules"].update(allowed_zone_pairs=None),
    "t": lambda d: d["rules"].update(allowed_type_pairs=None),
    "r": lambda d: d["rules"].update(same_region=False),
    "far": lambda d: d["rules"].update(max_distance_km=None),
    "low": lambda d: d["rules"].update(min_score=0.0),
    "h": lambda d: d["rules"].update(forbidden=[]),
    "u": lambda d: d["scores"].append({"a": "e", "b": "u", "score": 0.5}),
}


def pairs_document() -> Doc:
    return {
        "kind": "matching",
        "mode": "pairs",
        "institutions": copy.deepcopy(PAIR_INSTITUTIONS),
        "scores": [{"a": a, "b": b, "score": s} for (a, b), s in PAIR_SCORES.items()],
        "rules": copy.deepcopy(PAIR_RULES),
    }


def pair(a: str, b: str) -> dict[str, Any]:
    return {"a": a, "b": b, "score": PAIR_SCORES.get((a, b), 0.5)}


ORDER = [x["id"] for x in PAIR_INSTITUTIONS]
PAIRING: Doc = {
    "pairs": [pair("a", "b"), pair("c", "d"), pair("c", "f"), pair("e", "g")],
    "unmatched": ["z", "t", "r", "far", "low", "h", "u"],
}
PAIRING_OBJECTIVE = 0.9 + 0.8 + 0.7 + 0.6


def with_pairs(solution: Doc, pairs: list[dict[str, Any]]) -> Doc:
    """``solution`` with these pairs and the unmatched list that goes with them."""
    matched = {x for p in pairs for x in (p["a"], p["b"])}
    return {"pairs": pairs, "unmatched": [x for x in ORDER if x not in matched]}


def swapped(solution: Doc, old: tuple[str, str], new: dict[str, Any]) -> Doc:
    pairs = [new if (p["a"], p["b"]) == old else p for p in solution["pairs"]]
    return with_pairs(solution, pairs)


def dropped(solution: Doc, *gone: tuple[str, str]) -> Doc:
    return with_pairs(solution, [p for p in solution["pairs"] if (p["a"], p["b"]) not in gone])


def scored(solution: Doc, which: tuple[str, str], score: float) -> Doc:
    out = copy.deepcopy(solution)
    for p in out["pairs"]:
        if (p["a"], p["b"]) == which:
            p["score"] = score
    return out


PAIR_MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "unknown-institution",
        lambda s: swapped(s, ("e", "g"), {"a": "e", "b": "nobody", "score": 0.6}),
        "pair (e, nobody) names an unknown institution",
    ),
    (
        "self-pair",
        lambda s: swapped(s, ("e", "g"), {"a": "e", "b": "e", "score": 0.6}),
        "pair (e, e) pairs an institution with itself",
    ),
    (
        "selected-twice",
        lambda s: with_pairs(s, [*s["pairs"], pair("a", "b")]),
        "pair (a, b) is selected twice",
    ),
    (
        "selected-twice-reversed",
        lambda s: with_pairs(s, [*s["pairs"], {"a": "b", "b": "a", "score": 0.9}]),
        "pair (b, a) is selected twice",
    ),
    *[
        (
            f"not-candidate-{x}",
            functools.partial(lambda x, s: swapped(s, ("e", "g"), pair("e", x)), x),
            f"pair (e, {x}) is not a candidate under the rules",
        )
        for x in LIFTED
    ],
    (
        "reported-score",
        lambda s: scored(s, ("e", "g"), 0.61),
        "pair (e, g) reports score 0.61, not 0.6",
    ),
    (
        "reported-score-nan",
        lambda s: scored(s, ("e", "g"), math.nan),
        "pair (e, g) reports score nan, not 0.6",
    ),
    (
        "above-capacity",
        lambda s: with_pairs(s, [*s["pairs"], pair("c", "g")]),
        "c has 3 partners, above capacity 2",
    ),
    (
        "below-min-partners",
        lambda s: dropped(s, ("c", "d"), ("c", "f")),
        "c has 0 partners, below min_partners 1",
    ),
    (
        "required-pair",
        lambda s: dropped(s, ("a", "b")),
        "required pair (a, b) is not selected",
    ),
    (
        "unmatched-misses-one",
        lambda s: {**s, "unmatched": s["unmatched"][:-1]},
        "the unmatched list does not match the institutions without a partner",
    ),
    (
        "unmatched-lists-a-matched-one",
        lambda s: {**s, "unmatched": [*s["unmatched"], "a"]},
        "the unmatched list does not match the institutions without a partner",
    ),
]


@pytest.fixture(scope="module")
def pairs_instance() -> MatchingInstance:
    return MatchingInstance.model_validate(pairs_document())


def test_the_pairing_verifies_with_the_sum_of_its_scores(pairs_instance: MatchingInstance):
    report = verify(pairs_instance, PAIRING)
    assert report.valid, report.violations
    assert report.objective == pytest.approx(PAIRING_OBJECTIVE, abs=1e-12)


@pytest.mark.parametrize(
    ("change", "violation"), [m[1:] for m in PAIR_MUTATIONS], ids=[m[0] for m in PAIR_MUTATIONS]
)
def test_verifier_rejects_each_broken_pairs_rule_by_name(
    pairs_instance: MatchingInstance, change: Mutation, violation: str
):
    assert verify(pairs_instance, PAIRING).valid
    report = verify(pairs_instance, change(copy.deepcopy(PAIRING)))
    assert not report.valid
    assert violation in report.violations, report.violations


@pytest.mark.parametrize("partner", sorted(LIFTED))
def test_each_candidate_rule_alone_makes_the_pair_a_non_candidate(
    pairs_instance: MatchingInstance, partner: str
):
    broken = swapped(PAIRING, ("e", "g"), pair("e", partner))
    # The pair does not count, so e and its would-be partner are also unmatched.
    assert verify(pairs_instance, broken).violations == [
        f"pair (e, {partner}) is not a candidate under the rules",
        "the unmatched list does not match the institutions without a partner",
    ]
    doc = pairs_document()
    LIFTED[partner](doc)
    lifted = verify(MatchingInstance.model_validate(doc), broken)
    assert lifted.valid, lifted.violations


@pytest.mark.parametrize("score", [0.0, 0.61, 100.0, math.nan])
def test_a_reported_pair_score_never_changes_the_recomputed_objective(
    pairs_instance: MatchingInstance, score: float
):
    report = verify(pairs_instance, scored(PAIRING, ("e", "g"), score))
    assert not report.valid
    assert report.objective == pytest.approx(PAIRING_OBJECTIVE, abs=1e-12)


def test_formula_scores_are_recomputed_and_a_changed_one_is_caught():
    """Without a scores list the verifier scores pairs by the formula itself (need,
    complementarity, distance, bonus); the solver's own numbers are checked against it."""
    doc = {
        "kind": "matching",
        "institutions": [
            {"id": "cqu", "zone": WEST, "location": {"lat": 29.56, "lon": 106.46},
             "strengths": {"eng": 0.9, "med": 0.3}, "needs": {"med": 0.8}},
            {"id": "fdu", "zone": EAST, "location": {"lat": 31.30, "lon": 121.50},
             "strengths": {"med": 0.95}, "needs": {"eng": 0.6}},
            {"id": "xju", "zone": WEST, "location": {"lat": 43.77, "lon": 87.62},
             "strengths": {"eng": 0.4}, "needs": {"eng": 0.9, "med": 0.5}},
        ],
        "weights": {"cross_zone_bonus": 0.25},
    }  # fmt: skip
    instance = MatchingInstance.model_validate(doc)
    solution = solve_doc(doc).solution
    assert solution is not None
    report = verify(instance, solution)
    assert report.valid, report.violations
    by_id = {x["id"]: x for x in institutions_of(doc)}
    expected = sum(
        formula_terms(doc, by_id[p["a"]], by_id[p["b"]])["score"] for p in solution["pairs"]
    )
    assert solution["pairs"] and report.objective == pytest.approx(expected, abs=1e-9)
    first = solution["pairs"][0]
    broken = copy.deepcopy(solution)
    broken["pairs"][0]["score"] = first["score"] + 1e-3
    violations = verify(instance, broken).violations
    assert len(violations) == 1
    assert violations[0].startswith(
        f"pair ({first['a']}, {first['b']}) reports score {first['score'] + 1e-3}, not "
    )


# Side rules, each on the pairing above: fairness minimums for Sichuan (7 of its 13 members
# matched, in 4 pairs), and stability required (c is full with d and f; nobody else prefers
# a free candidate).
FAIRNESS: Doc = {
    "fairness": {
        "minimums": [{"by": "region", "group": "Sichuan", "matched": 6, "share": 0.5, "pairs": 4}]
    }
}
STABLE: Doc = {"stability": "require"}
SIDE_MUTATIONS: list[tuple[str, Doc, Mutation, list[str]]] = [
    (
        "fairness-minimums",
        FAIRNESS,
        lambda s: dropped(s, ("e", "g")),
        [
            "region Sichuan has 5 matched members, fewer than 6",
            "region Sichuan has 5 of 13 members matched, below the share 0.5",
            "region Sichuan has 3 pairs, fewer than 4",
        ],
    ),
    (
        "blocking-pair",
        STABLE,
        lambda s: dropped(s, ("c", "f")),
        ["pair (c, f) blocks the plan: both would rather pair with each other (stability require)"],
    ),
]


@pytest.mark.parametrize(
    ("rules", "change", "violations"),
    [m[1:] for m in SIDE_MUTATIONS],
    ids=[m[0] for m in SIDE_MUTATIONS],
)
def test_verifier_rejects_each_broken_side_rule_by_name(
    rules: Doc, change: Mutation, violations: list[str]
):
    instance = MatchingInstance.model_validate({**pairs_document(), **rules})
    assert verify(instance, PAIRING).valid
    report = verify(instance, change(copy.deepcopy(PAIRING)))
    assert report.violations == violations


def test_penalised_stability_costs_each_blocking_pair_in_the_objective():
    instance = MatchingInstance.model_validate(
        {**pairs_document(), "stability": "penalise", "stability_penalty": 0.25}
    )
    assert verify(instance, PAIRING).objective == pytest.approx(PAIRING_OBJECTIVE)
    report = verify(instance, dropped(PAIRING, ("c", "f")))
    assert report.valid
    assert report.objective == pytest.approx(PAIRING_OBJECTIVE - 0.7 - 0.25)


# ------------------------------------------------------------------ groups mode

REGION = {"h1": "Sichuan", "s1": "Sichuan", "s2": "Sichuan", "h3": "Sichuan", "s3": "Sichuan"}
REGION |= {"lone": "Sichuan", "h2": "Chongqing", "c1": "Chongqing", "c2": "Chongqing"}
REGION |= {"nowhere": None}
HUBS = {"h1", "h2", "h3"}
GROUP_SCORES = {
    ("h1", "s1"): 0.5,
    ("h1", "s2"): 0.4,
    ("s1", "s2"): 0.3,
    ("h3", "s3"): 0.6,
    ("h3", "s2"): 0.25,
    ("s2", "s3"): 0.15,
    ("h1", "s3"): 0.35,
    ("s1", "s3"): 0.9,  # forbidden: never counts
    ("h2", "c1"): 0.7,
    ("h2", "c2"): 0.2,
    ("c1", "c2"): 0.1,
    ("h3", "c2"): 0.05,
}
FORBIDDEN = {frozenset(("s1", "s3"))}


def groups_document(**group: Any) -> Doc:
    return {
        "kind": "matching",
        "mode": "groups",
        "institutions": [
            {"id": x, "region": r, "hub": x in HUBS} if r else {"id": x, "hub": x in HUBS}
            for x, r in REGION.items()
        ],
        "scores": [{"a": a, "b": b, "score": s} for (a, b), s in GROUP_SCORES.items()],
        "rules": {"forbidden": [sorted(p) for p in FORBIDDEN], "required": [["h2", "c1"]]},
        "group": {"min_size": 2, "max_size": 3, "min_hubs": 1, "same_region": True, **group},
    }


def group_score(members: list[str]) -> float:
    """Σ listed scores of the member pairs that are candidates, summed as the contract says."""
    total = 0.0
    for k, a in enumerate(members):
        for b in members[k + 1 :]:
            if frozenset((a, b)) not in FORBIDDEN:
                total += GROUP_SCORES.get((a, b), GROUP_SCORES.get((b, a), 0.0))
    return total


def groups_of(*groups: list[str]) -> Doc:
    """Groups g1, g2, … with their scores, and the ungrouped list that goes with them."""
    placed = {x for g in groups for x in g}
    return {
        "groups": [
            {"id": f"g{k + 1}", "members": list(g), "score": group_score(list(g))}
            for k, g in enumerate(groups)
        ],
        "ungrouped": [x for x in REGION if x not in placed],
    }


G1, G2, G3 = ["h1", "s1", "s2"], ["h3", "s3"], ["h2", "c1", "c2"]
GROUPING = groups_of(G1, G2, G3)
GROUPING_OBJECTIVE = group_score(G1) + group_score(G2) + group_score(G3)


def regrouped(solution: Doc, gid: str, **fields: Any) -> Doc:
    out = copy.deepcopy(solution)
    for g in out["groups"]:
        if g["id"] == gid:
            g.update(fields)
    return out


GROUP_MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "unknown-institution",
        lambda s: regrouped(s, "g2", members=[*G2, "nobody"]),
        "group g2 names an unknown institution",
    ),
    (
        "in-two-groups",
        lambda s: groups_of(G1, [*G2, "s2"], G3),
        "s2 is in groups g1 and g2",
    ),
    ("too-small", lambda s: groups_of(G1, ["h3"], G3), "group g2 has 1 members, outside 2..3"),
    (
        "too-large",
        lambda s: groups_of([*G1, "lone"], G2, G3),
        "group g1 has 4 members, outside 2..3",
    ),
    (
        "too-few-hubs",
        lambda s: groups_of(["s1", "s2"], G2, G3),
        "group g1 has 0 hubs, fewer than 1",
    ),
    (
        "two-regions",
        lambda s: groups_of(G1, [*G2, "c2"], ["h2", "c1"]),
        "group g2 spans regions ['Chongqing', 'Sichuan']",
    ),
    (
        "member-without-region",
        lambda s: groups_of(G1, [*G2, "nowhere"], G3),
        "group g2 spans regions ['None', 'Sichuan']",
    ),
    (
        "forbidden-pair",
        lambda s: groups_of(["h1", "s1", "s3"], ["h3", "s2"], G3),
        "group g1 holds the forbidden pair (s1, s3)",
    ),
    (
        "reported-score",
        lambda s: regrouped(s, "g1", score=group_score(G1) + 0.01),
        f"group g1 reports score {group_score(G1) + 0.01}, not {group_score(G1)}",
    ),
    (
        "reported-score-nan",
        lambda s: regrouped(s, "g1", score=math.nan),
        f"group g1 reports score nan, not {group_score(G1)}",
    ),
    (
        "required-pair",
        lambda s: groups_of(G1, G2, ["h2", "c2"]),
        "required pair (h2, c1) is not in one group",
    ),
    (
        "ungrouped-misses-one",
        lambda s: {**s, "ungrouped": ["nowhere"]},
        "the ungrouped list does not match the institutions in no group",
    ),
    (
        "ungrouped-lists-a-grouped-one",
        lambda s: {**s, "ungrouped": [*s["ungrouped"], "h1"]},
        "the ungrouped list does not match the institutions in no group",
    ),
    (
        "group-id-twice",
        lambda s: regrouped(s, "g2", id="g1"),
        "group id g1 is used twice",
    ),
]


@pytest.fixture(scope="module")
def groups_instance() -> MatchingInstance:
    return MatchingInstance.model_validate(groups_document())


def test_the_grouping_verifies_with_the_sum_of_its_scores(groups_instance: MatchingInstance):
    report = verify(groups_instance, GROUPING)
    assert report.valid, report.violations
    assert report.objective == pytest.approx(GROUPING_OBJECTIVE, abs=1e-12)
    assert pytest.approx(1.2 + 0.6 + 1.0) == GROUPING_OBJECTIVE


@pytest.mark.parametrize(
    ("change", "violation"),
    [m[1:] for m in GROUP_MUTATIONS],
    ids=[m[0] for m in GROUP_MUTATIONS],
)
def test_verifier_rejects_each_broken_groups_rule_by_name(
    groups_instance: MatchingInstance, change: Mutation, violation: str
):
    assert verify(groups_instance, GROUPING).valid
    report = verify(groups_instance, change(copy.deepcopy(GROUPING)))
    assert not report.valid
    assert violation in report.violations, report.violations


def test_cover_all_rejects_the_grouping_that_leaves_two_out():
    covered = MatchingInstance.model_validate(groups_document(cover_all=True))
    assert verify(covered, GROUPING).violations == ["cover_all: 2 institutions are in no group"]


@pytest.mark.parametrize("score", [0.0, 5.0, math.nan])
def test_a_reported_group_score_never_changes_the_recomputed_objective(
    groups_instance: MatchingInstance, score: float
):
    report = verify(groups_instance, regrouped(GROUPING, "g3", score=score))
    assert not report.valid
    assert report.objective == pytest.approx(GROUPING_OBJECTIVE, abs=1e-12)


# ------------------------------------------------------------------ completeness and regressions


def test_every_violation_the_verifier_writes_has_a_mutation(
    pairs_instance: MatchingInstance, groups_instance: MatchingInstance
):
    messages = [
        v
        for _, change, _ in PAIR_MUTATIONS
        for v in verify(pairs_instance, change(PAIRING)).violations
    ]
    messages += [
        v
        for _, change, _ in GROUP_MUTATIONS
        for v in verify(groups_instance, change(GROUPING)).violations
    ]
    covered = MatchingInstance.model_validate(groups_document(cover_all=True))
    messages += verify(covered, GROUPING).violations
    for _, rules, change, _ in SIDE_MUTATIONS:
        side = MatchingInstance.model_validate({**pairs_document(), **rules})
        messages += verify(side, change(PAIRING)).violations
    for _, rule, plan, change, _ in PERIOD_MUTATIONS:
        periods = MatchingInstance.model_validate(periods_doc(rule))
        messages += verify(periods, change(copy.deepcopy(plan))).violations
    assert len(message_templates(VERIFIER)) >= 19
    assert unmatched_templates(VERIFIER, messages) == []


def test_regression_a_nan_score_passed_the_score_checks(
    pairs_instance: MatchingInstance, groups_instance: MatchingInstance
):
    """Bug: ``abs(score - reported) > tolerance`` is false for NaN, so a NaN score verified."""
    assert verify(pairs_instance, scored(PAIRING, ("c", "d"), math.nan)).violations == [
        "pair (c, d) reports score nan, not 0.8"
    ]
    assert verify(groups_instance, regrouped(GROUPING, "g2", score=math.nan)).violations == [
        "group g2 reports score nan, not 0.6"
    ]


def test_regression_two_groups_could_share_an_id(groups_instance: MatchingInstance):
    """Bug: group ids are unique within a solution (contract 5.5), but the verifier accepted
    two groups both called g1."""
    assert verify(groups_instance, regrouped(GROUPING, "g3", id="g1")).violations == [
        "group id g1 is used twice"
    ]


def test_regression_an_unmatched_or_ungrouped_list_could_repeat_an_id(
    pairs_instance: MatchingInstance, groups_instance: MatchingInstance
):
    """Bug: the lists were compared as sets, so naming an institution twice went unnoticed."""
    repeated = {**PAIRING, "unmatched": [*PAIRING["unmatched"], "z"]}
    assert verify(pairs_instance, repeated).violations == [
        "the unmatched list does not match the institutions without a partner"
    ]
    repeated = {**GROUPING, "ungrouped": [*GROUPING["ungrouped"], "lone"]}
    assert verify(groups_instance, repeated).violations == [
        "the ungrouped list does not match the institutions in no group"
    ]
