"""Re-planning a matching against a previous plan: keep a pair unless changing pays more than
the change penalty; an unchanged instance keeps its plan; bad plans get clear issues."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Status
from tests.matching.helpers import (
    RULE_DEFAULTS,
    contract_candidates,
    group_rules,
    institutions_of,
    matching,
    random_capacitated_doc,
    random_groups_doc,
    solve_doc,
)

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "matching"


def replanned_optimum(doc: dict[str, Any], penalty: float) -> float | None:
    """The oracle: every subset of candidate pairs, scored as the contract says —
    Σ score − penalty × (previous pairs not kept)."""
    insts = {x["id"]: x for x in institutions_of(doc)}
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    cands = contract_candidates(doc)
    required = {frozenset(p) for p in rules["required"]}
    previous = {frozenset((p["a"], p["b"])) for p in doc["previous"]["pairs"]}
    pairs = sorted(cands, key=sorted)
    best = None
    for k in range(len(pairs) + 1):
        for chosen in itertools.combinations(pairs, k):
            degree = dict.fromkeys(insts, 0)
            for pair in chosen:
                for x in pair:
                    degree[x] += 1
            if any(degree[x] > insts[x]["capacity"] for x in insts):
                continue
            if any(degree[x] < insts[x]["min_partners"] for x in insts):
                continue
            if not required <= set(chosen):
                continue
            value = sum(cands[p] for p in chosen) - penalty * len(previous - set(chosen))
            best = value if best is None else max(best, value)
    return best


def random_previous(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """A plan some earlier instance could have had: a few pairs, some no longer candidates."""
    names = [x["id"] for x in doc["institutions"]]
    pairs = rng.sample(list(itertools.combinations(names, 2)), rng.randint(0, 4))
    return {"pairs": [{"a": a, "b": b} for a, b in pairs]}


@pytest.mark.parametrize("seed", range(40))
def test_replanned_pairs_match_brute_force(seed):
    rng = random.Random(seed)
    doc = random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9)
    doc["previous"] = random_previous(rng, doc)
    penalty = rng.choice([0.01, 0.5, 2.0, 5.0])
    solver = rng.choice(["auto", "highs", "cp-sat", "cbc"])
    solution = solve_doc(doc, solver=solver, change_penalty=penalty)
    expected = replanned_optimum(doc, penalty)
    if expected is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, solution
    assert solution.objective == pytest.approx(expected, abs=1e-6)
    assert solution.changes is not None
    kept = {frozenset((p["a"], p["b"])) for p in solution.solution["pairs"]}
    previous = {frozenset((p["a"], p["b"])) for p in doc["previous"]["pairs"]}
    assert solution.changes.dropped == len(previous - kept)
    assert solution.changes.kept == len(previous & kept)
    assert solution.kpis["change_cost"] == pytest.approx(penalty * solution.changes.dropped)


def test_a_pair_is_kept_unless_breaking_it_gains_more_than_the_penalty():
    # Previously a-b (2.0) and c-d (2.0); now a-c scores 4.5 and b-d 0.0: breaking both old
    # pairs for a-c gains 0.5 in score.
    doc = matching(
        ["a", "b", "c", "d"],
        {"a-b": 2.0, "c-d": 2.0, "a-c": 4.5},
        previous={"pairs": [{"a": "a", "b": "b"}, {"a": "c", "b": "d"}]},
    )
    cheap = solve_doc(doc, change_penalty=0.1)  # 0.5 > 2 × 0.1: change
    assert {(p["a"], p["b"]) for p in cheap.solution["pairs"]} == {("a", "c")}
    assert cheap.objective == pytest.approx(4.5 - 0.2)
    assert [d.item for d in cheap.changes.dropped_items] == ["a+b", "c+d"]
    assert "gains more than the change costs" in cheap.changes.dropped_items[0].reason
    dear = solve_doc(doc, change_penalty=0.3)  # 0.5 < 2 × 0.3: keep
    assert {(p["a"], p["b"]) for p in dear.solution["pairs"]} == {("a", "b"), ("c", "d")}
    assert (dear.changes.kept, dear.changes.changed, dear.objective) == (2, 0, 4.0)


@pytest.mark.parametrize(
    "example", ["east-west-counterparts", "sichuan-industry", "chongqing-alliance"]
)
def test_an_unchanged_instance_keeps_its_plan(example):
    doc = json.loads((INSTANCES / f"{example}.json").read_text())
    first = solve_document(doc)
    assert first.status == Status.OPTIMAL
    again = solve_document({**doc, "previous": first.solution})
    assert again.status == Status.OPTIMAL
    assert again.solution == first.solution
    assert again.changes.changed == again.changes.added == 0
    assert again.objective == first.objective


def partitions(items: list[str]) -> list[list[tuple[str, ...]]]:
    """Every set partition of ``items`` (blocks in order of their first element)."""
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for sub in partitions(rest):
        out.append([(first,), *sub])
        for k in range(len(sub)):
            out.append([*sub[:k], (first, *sub[k]), *sub[k + 1 :]])
    return out


def replanned_groups_optimum(doc: dict[str, Any], penalty: float) -> float | None:
    """The oracle: every partition; a block that is no valid group leaves its members
    ungrouped (allowed only when it is a single institution outside any required pair and
    cover_all is off); each previously grouped institution whose co-members differ (or who
    is ungrouped now) costs the penalty."""
    valid, score, cover_all, in_required = group_rules(doc)
    names = [x["id"] for x in doc["institutions"]]
    before = {
        m: frozenset(g["members"]) - {m} for g in doc["previous"]["groups"] for m in g["members"]
    }
    best = None
    for partition in partitions(names):
        after: dict[str, frozenset[str]] = {}
        value = 0.0
        feasible = True
        for block in partition:
            if valid(block):
                value += score(block)
                after.update({m: frozenset(block) - {m} for m in block})
            elif len(block) > 1 or cover_all or block[0] in in_required:
                feasible = False
                break
        if not feasible:
            continue
        value -= penalty * sum(1 for m, others in before.items() if after.get(m) != others)
        best = value if best is None else max(best, value)
    return best


@pytest.mark.parametrize("seed", range(30))
def test_replanned_groups_match_brute_force(seed):
    rng = random.Random(seed)
    doc = random_groups_doc(rng, rng.randint(4, 6))
    # The previous plan: the best one for the same institutions with other scores.
    earlier = {**doc, "scores": [{**x, "score": rng.uniform(-2.0, 10.0)} for x in doc["scores"]]}
    before = solve_doc(earlier)
    doc["previous"] = before.solution or {"groups": []}
    penalty = rng.choice([0.01, 1.0, 4.0])
    solution = solve_doc(
        doc, solver=rng.choice(["auto", "highs", "cp-sat"]), change_penalty=penalty
    )
    expected = replanned_groups_optimum(doc, penalty)
    if expected is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, solution
    assert solution.objective == pytest.approx(expected, abs=1e-6)


def test_an_unchanged_groups_instance_keeps_its_plan():
    for seed in range(20):
        doc = random_groups_doc(random.Random(seed), 7)
        first = solve_doc(doc)
        if first.status == Status.OPTIMAL and first.solution["groups"]:
            break
    again = solve_doc({**doc, "previous": first.solution}, change_penalty=1e-3)
    assert again.status == Status.OPTIMAL
    assert again.changes.changed == 0 and again.changes.kept > 0
    assert again.objective == pytest.approx(first.objective)


def test_an_institution_gone_drops_its_pair_with_the_reason():
    doc = matching(["a", "b", "c"], {"a-c": 1.0}, previous={"pairs": [{"a": "a", "b": "x"}]})
    parsed = parse_document(doc)
    assert [(w.code, w.path) for w in parsed.warnings] == [
        ("previous_unknown_id", "previous.pairs[0].b")
    ]
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL
    assert solution.changes.dropped_items[0].item == "a+x"
    assert solution.changes.dropped_items[0].reason == "x is no longer in the instance"
    assert [i.code for i in solution.issues] == ["previous_unknown_id"]


def test_a_forbidden_pair_is_dropped_because_of_the_rule():
    doc = matching(
        ["a", "b", "c"],
        {"a-b": 1.0, "a-c": 0.5},
        previous={"pairs": [{"a": "a", "b": "b"}]},
        rules={"forbidden": [["a", "b"]]},
    )
    solution = solve_doc(doc)
    assert solution.changes.dropped_items[0].reason == (
        "the pair is no longer a candidate under the rules"
    )


@pytest.mark.parametrize(
    ("previous", "path"),
    [
        ({"groups": [{"members": ["a", "b"]}]}, "previous.groups"),
        ({"bookings": []}, "previous.bookings"),
        ({"unmatched": ["a"]}, "previous"),
    ],
)
def test_a_plan_of_another_mode_or_kind_is_invalid_with_its_path(previous, path):
    parsed = parse_document(matching(["a", "b"], {"a-b": 1.0}, previous=previous))
    assert parsed.instance is None
    assert path in [i.path for i in parsed.issues]


def test_next_years_counterparts_keep_last_years_pairs_where_they_still_work():
    """The shipped re-planning example: a fresh solve keeps far fewer of last year's pairs."""
    folder = INSTANCES / "replan"
    doc = json.loads((folder / "east-west-next-year.json").read_text())
    last_year = json.loads((folder / "east-west-last-year.solution.json").read_text())
    previous = {frozenset((p["a"], p["b"])) for p in last_year["solution"]["pairs"]}
    fresh = solve_document(doc)
    replanned = solve_document(doc, previous=last_year)
    assert fresh.status == replanned.status == Status.OPTIMAL
    kept_fresh = previous & {frozenset((p["a"], p["b"])) for p in fresh.solution["pairs"]}
    assert replanned.changes.kept > len(kept_fresh)
    # Keeping costs at most what the change penalty saves on the pairs it keeps.
    saved = doc["options"].get("change_penalty", 0.01) * (replanned.changes.kept - len(kept_fresh))
    assert replanned.kpis["objective_before_changes"] >= fresh.objective - saved - 1e-9
    # SJTU went from two partners to one: the pair it gave up says so.
    (dropped,) = replanned.changes.dropped_items
    assert "sjtu's capacity is now 1, below the 2 pairs it had" in dropped.reason
