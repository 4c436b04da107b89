"""Fairness in groups mode (contract 5.5.1): minimums and max_min against brute force over
every feasible grouping of tiny random instances, the verifier's minimums on groups, and
the reasons when a minimum cannot be met."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from optimizer.core.envelope import Status
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.verify import verify

from .helpers import (
    GROUP_DEFAULTS,
    REGIONS,
    assert_verified,
    group_rules,
    group_set,
    institutions_of,
    random_groups_doc,
    solve_doc,
)


def all_groupings(doc: dict[str, Any]) -> Iterator[tuple[list[frozenset[str]], float]]:
    """Every feasible set of disjoint groups with its total score."""
    group = {**GROUP_DEFAULTS, **doc.get("group", {})}
    valid, score, cover_all, in_required = group_rules(doc)

    def extend(remaining: tuple[str, ...]) -> Iterator[list[tuple[str, ...]]]:
        if not remaining:
            yield []
            return
        first, rest = remaining[0], remaining[1:]
        if not cover_all and first not in in_required:
            yield from extend(rest)
        for size in range(group["min_size"], group["max_size"] + 1):
            for others in itertools.combinations(rest, size - 1):
                members = (first, *others)
                if valid(members):
                    left = tuple(x for x in rest if x not in others)
                    for tail in extend(left):
                        yield [members, *tail]

    for grouping in extend(tuple(x["id"] for x in institutions_of(doc))):
        yield [frozenset(g) for g in grouping], sum(score(g) for g in grouping)


def members_of(doc: dict[str, Any], region: str) -> set[str]:
    return {x["id"] for x in institutions_of(doc) if x["region"] == region}


def meets(doc: dict[str, Any], grouping: list[frozenset[str]], rule: dict[str, Any]) -> bool:
    members = members_of(doc, rule["group"])
    grouped = members & set().union(*grouping) if grouping else set()
    touching = sum(1 for g in grouping if g & members)
    least = max(rule.get("matched", 0), -(-len(members) * Fraction(rule.get("share", 0)) // 1))
    return len(grouped) >= least and touching >= rule.get("pairs", 0)


def measure(
    doc: dict[str, Any], grouping: list[frozenset[str]], scores: list[float], kind: str
) -> Fraction | float:
    """The worst-off region's matched share, or score per member, of a grouping."""
    values: list[Any] = []
    for region in REGIONS:
        members = members_of(doc, region)
        if not members:
            continue
        if kind == "share":
            grouped = members & set().union(*grouping) if grouping else set()
            values.append(Fraction(len(grouped), len(members)))
        else:
            values.append(sum(s for g, s in zip(grouping, scores, strict=True) if g & members))
            values[-1] /= len(members)
    return min(values)


def fair_doc(rng: random.Random) -> dict[str, Any]:
    doc = random_groups_doc(rng, rng.randint(4, 6), decimals=(1, 2))
    doc["group"]["same_region"] = False  # regions are what fairness compares
    if rng.random() < 0.7:
        # Room to leave institutions out, which is where the worst-off region can lose.
        doc["group"]["cover_all"] = False
        doc["rules"]["required"] = []
    return doc


@pytest.mark.parametrize("seed", range(25))
def test_group_minimums_match_brute_force(seed: int) -> None:
    rng = random.Random(500 + seed)
    doc = fair_doc(rng)
    region = rng.choice([x["region"] for x in doc["institutions"]])
    rule: dict[str, Any] = {"group": region, rng.choice(["matched", "pairs"]): rng.randint(1, 2)}
    if rng.random() < 0.4:
        rule["share"] = rng.choice([0.5, 1.0])
    doc["fairness"] = {"minimums": [rule]}
    best = max(
        (total for grouping, total in all_groupings(doc) if meets(doc, grouping, rule)),
        default=None,
    )
    solver = rng.choice(["highs", "cbc", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if best is None:
        assert solution.status == Status.INFEASIBLE, (solver, doc)
        assert solution.explanations
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert_verified(solution)
    assert solution.objective == pytest.approx(best, abs=1e-6)
    assert meets(doc, list(group_set(solution)), rule)


@pytest.mark.parametrize("kind", ["share", "score"])
def test_group_max_min_is_lexicographically_best(kind: str) -> None:
    """The worst-off region is as well off as any grouping makes it, and the total is the
    best among the groupings with that worst-off value."""
    rng = random.Random(f"group-max-min-{kind}")
    solved = binding = 0
    for _ in range(20):
        doc = fair_doc(rng)
        doc["fairness"] = {"objective": "max_min", "measure": kind}
        _, score, _, _ = group_rules(doc)
        best: tuple[Any, float] | None = None
        best_total: float | None = None
        for grouping, total in all_groupings(doc):
            level = measure(doc, grouping, [score(tuple(g)) for g in grouping], kind)
            best_total = total if best_total is None else max(best_total, total)
            if (
                best is None
                or level > best[0] + 1e-9
                or (abs(level - best[0]) <= 1e-9 and total > best[1] + 1e-9)
            ):
                best = (level, total)
        solver = rng.choice(["highs", "cp-sat"])
        solution = solve_doc(doc, solver=solver)
        if best is None:
            assert solution.status == Status.INFEASIBLE
            continue
        assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
        assert_verified(solution)
        assert solution.kpis["worst_off"]["value"] == pytest.approx(float(best[0]), abs=1e-6)
        assert solution.objective == pytest.approx(best[1], abs=1e-6)
        assert best_total is not None
        solved += 1
        binding += best[1] < best_total - 1e-9
    # Plans were compared, and in some the worst-off region cost total score.
    assert solved >= 10 and binding >= 2, (solved, binding)


def test_the_verifier_counts_group_members_for_minimums() -> None:
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [
            {"id": "a", "region": "Tibet"},
            {"id": "b", "region": "Sichuan"},
            {"id": "c", "region": "Sichuan"},
        ],
        "scores": [{"a": "b", "b": "c", "score": 2.0}, {"a": "a", "b": "b", "score": 0.5}],
        "group": {"max_size": 2},
        "fairness": {"minimums": [{"group": "Tibet", "matched": 1, "pairs": 1}]},
    }
    instance = MatchingInstance.model_validate(doc)
    fair = {"groups": [{"id": "g1", "members": ["a", "b"], "score": 0.5}], "ungrouped": ["c"]}
    assert verify(instance, fair).valid
    unfair = {"groups": [{"id": "g1", "members": ["b", "c"], "score": 2.0}], "ungrouped": ["a"]}
    assert verify(instance, unfair).violations == [
        "region Tibet has 0 matched members, fewer than 1",
        "region Tibet has 0 pairs, fewer than 1",
    ]
    solution = solve_doc(doc)
    assert_verified(solution)
    assert group_set(solution) == {frozenset(("a", "b"))}
    price = solution.kpis["price_of_rules"]["all"]
    assert price == {"total_without": 2.0, "price": pytest.approx(1.5), "exact": True}
    # c is left out for Tibet's minimum: its reason names the rule (issue #17).
    [reason] = [e for e in solution.explanations if e.subject == "c"]
    assert reason.detail.endswith(
        "; the best plan without the fairness rules (minimums for region Tibet) groups c "
        "with b: those rules leave it out"
    ), reason.detail


def test_an_unreachable_group_minimum_is_named() -> None:
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [
            {"id": "a", "region": "Tibet"},
            {"id": "b", "region": "Sichuan"},
            {"id": "c", "region": "Sichuan"},
        ],
        "scores": [{"a": "b", "b": "c", "score": 2.0}],
        "group": {"max_size": 2},
        "rules": {"forbidden": [["a", "b"], ["a", "c"]]},
        "fairness": {"minimums": [{"group": "Tibet", "matched": 1}]},
    }
    solution = solve_doc(doc)
    assert solution.status == Status.INFEASIBLE
    assert [e.code for e in solution.explanations] == ["fairness_minimum_unreachable"]


def test_too_many_candidate_groups_for_fairness_says_so() -> None:
    doc = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [{"id": f"u{k:02d}", "region": REGIONS[k % 3]} for k in range(30)],
        "scores": [{"a": "u00", "b": "u01", "score": 1.0}],
        "group": {"max_size": 6},
        "fairness": {"minimums": [{"group": "Sichuan", "matched": 1}]},
    }
    solution = solve_doc(doc)
    assert solution.status == Status.NO_SOLUTION
    assert [e.code for e in solution.explanations] == ["fairness_too_many_groups"]
    assert "768," in solution.explanations[0].detail  # C(30, 2) + … + C(30, 6) groups


def test_chongqing_alliance_fair_groups_every_research_institute() -> None:
    import json
    from pathlib import Path

    from optimizer.core.documents import solve_document

    folder = Path(__file__).resolve().parents[2] / "instances" / "matching"
    fair = solve_document((folder / "chongqing-alliance-fair.json").read_bytes())
    plain = solve_document((folder / "chongqing-alliance.json").read_bytes())
    assert_verified(fair)
    assert fair.status == plain.status == Status.OPTIMAL
    doc = json.loads((folder / "chongqing-alliance-fair.json").read_text(encoding="utf-8"))
    institutes = {x["id"] for x in doc["institutions"] if x["type"] == "research_institute"}
    assert institutes <= {m for g in group_set(fair) for m in g}
    assert not institutes <= {m for g in group_set(plain) for m in g}  # the rule binds
    price = fair.kpis["price_of_rules"]["all"]
    assert price["exact"] and price["total_without"] == pytest.approx(plain.objective, abs=1e-9)
    assert price["price"] == pytest.approx(plain.objective - fair.objective, abs=1e-9)
    assert price["price"] > 0
