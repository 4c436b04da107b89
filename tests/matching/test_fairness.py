"""Fairness minimums, the max_min objective and stability rules, against brute force over
every feasible selection of candidate pairs (tiny random instances), and on the examples."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from tests.matching.helpers import (
    REGIONS,
    assert_verified,
    blocking_pairs_oracle,
    contract_candidates,
    feasible_selections,
    institutions_of,
    pair_set,
    random_capacitated_doc,
    solve_doc,
)

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "matching"


def with_regions(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    for x in doc["institutions"]:
        x["region"] = rng.choice(REGIONS)
    return doc


def shares(doc: dict[str, Any], chosen: list[frozenset[str]]) -> dict[str, Fraction]:
    """Matched share of each region that has members."""
    matched = set().union(*chosen) if chosen else set()
    out = {}
    for region in REGIONS:
        members = {x["id"] for x in institutions_of(doc) if x["region"] == region}
        if members:
            out[region] = Fraction(len(members & matched), len(members))
    return out


def test_max_min_and_minimums_are_described_by_region():
    doc = json.loads((INSTANCES / "east-west-counterparts.json").read_text())
    west = ["Sichuan", "Tibet", "Xinjiang"]
    doc["fairness"] = {"objective": "max_min", "groups": west}
    solution = solve_document(doc)
    assert solution.status == Status.OPTIMAL
    worst = solution.kpis["worst_off"]
    assert set(worst["per_group"]) == set(west)
    assert worst["value"] == min(solution.kpis["by_region"][r]["share_matched"] for r in west)


@pytest.mark.parametrize("seed", range(30))
def test_max_min_share_is_lexicographically_best(seed):
    rng = random.Random(seed)
    doc = with_regions(rng, random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9))
    doc["fairness"] = {"objective": "max_min"}
    best: tuple[Fraction, float] | None = None
    for chosen, total in feasible_selections(doc):
        key = (min(shares(doc, chosen).values()), total)
        if best is None or key[0] > best[0] or (key[0] == best[0] and total > best[1] + 1e-9):
            best = key
    solver = rng.choice(["highs", "cbc", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if best is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert_verified(solution)
    got = min(shares(doc, list(pair_set(solution))).values())
    assert got == best[0]
    assert solution.kpis["worst_off"]["value"] == pytest.approx(float(best[0]))
    assert solution.objective == pytest.approx(best[1], abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_max_min_score_per_member_is_lexicographically_best(seed):
    rng = random.Random(100 + seed)
    doc = with_regions(rng, random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9))
    doc["fairness"] = {"objective": "max_min", "measure": "score"}
    cands = contract_candidates(doc)
    regions = [
        {x["id"] for x in institutions_of(doc) if x["region"] == region} for region in REGIONS
    ]
    cands_best: tuple[float, float] | None = None
    for chosen, total in feasible_selections(doc):
        per = [sum(cands[p] for p in chosen if p & m) / len(m) for m in regions if m]
        key = (min(per), total)
        if (
            cands_best is None
            or key[0] > cands_best[0] + 1e-9
            or (abs(key[0] - cands_best[0]) <= 1e-9 and total > cands_best[1] + 1e-9)
        ):
            cands_best = key
    solver = rng.choice(["highs", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if cands_best is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert solution.kpis["worst_off"]["value"] == pytest.approx(cands_best[0], abs=1e-6)
    assert solution.objective == pytest.approx(cands_best[1], abs=1e-6)


@pytest.mark.parametrize("seed", range(30))
def test_fairness_minimums_match_brute_force(seed):
    rng = random.Random(200 + seed)
    doc = with_regions(rng, random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9))
    region = rng.choice([x["region"] for x in doc["institutions"]])
    rule = {"group": region, rng.choice(["matched", "pairs"]): rng.randint(1, 2)}
    if rng.random() < 0.5:
        rule["share"] = rng.choice([0.5, 1.0])
    doc["fairness"] = {"minimums": [rule]}
    members = {x["id"] for x in doc["institutions"] if x["region"] == region}
    best = None
    for chosen, total in feasible_selections(doc):
        matched = len(members & (set().union(*chosen) if chosen else set()))
        pairs = sum(1 for p in chosen if p & members)
        if matched < rule.get("matched", 0) or pairs < rule.get("pairs", 0):
            continue
        if matched < rule.get("share", 0) * len(members) - 1e-9:
            continue
        best = total if best is None else max(best, total)
    solver = rng.choice(["highs", "cbc", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if best is None:
        assert solution.status == Status.INFEASIBLE
        assert solution.explanations
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert_verified(solution)
    assert solution.objective == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("seed", range(40))
def test_require_finds_a_stable_plan_whenever_one_exists(seed):
    rng = random.Random(300 + seed)
    doc = random_capacitated_doc(rng, rng.randint(4, 6), max_edges=10)
    doc["stability"] = "require"
    stable = [
        total
        for chosen, total in feasible_selections(doc)
        if not blocking_pairs_oracle(doc, chosen)
    ]
    solver = rng.choice(["highs", "cbc", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if not stable:
        assert solution.status == Status.INFEASIBLE
        assert solution.explanations
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert_verified(solution)
    assert blocking_pairs_oracle(doc, list(pair_set(solution))) == {}
    assert solution.objective == pytest.approx(max(stable), abs=1e-6)


@pytest.mark.parametrize("seed", range(30))
def test_penalise_trades_each_blocking_pair_against_the_score(seed):
    rng = random.Random(400 + seed)
    doc = random_capacitated_doc(rng, rng.randint(4, 6), max_edges=10)
    penalty = rng.choice([0.5, 2.0, 20.0])
    doc |= {"stability": "penalise", "stability_penalty": penalty}
    values = [
        total - penalty * len(blocking_pairs_oracle(doc, chosen))
        for chosen, total in feasible_selections(doc)
    ]
    solver = rng.choice(["highs", "cbc", "cp-sat"])
    solution = solve_doc(doc, solver=solver)
    if not values:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
    assert solution.objective == pytest.approx(max(values), abs=1e-6)


def test_no_stable_plan_is_infeasible_with_the_fewest_blocking_pairs():
    # Scores are symmetric, so the greedy plan by decreasing score is stable: only the
    # other rules can leave no stable plan. c must have a partner and only b scores with
    # it, so a-b (3 > 1 for b, a free) blocks every plan.
    doc = {
        "kind": "matching",
        "name": "min-partners",
        "institutions": [{"id": "a"}, {"id": "b"}, {"id": "c", "min_partners": 1}],
        "scores": [{"a": "a", "b": "b", "score": 3}, {"a": "b", "b": "c", "score": 1}],
        "stability": "require",
    }
    solution = solve_doc(doc)
    assert solution.status == Status.INFEASIBLE
    (reason,) = solution.explanations
    assert reason.code == "no_stable_plan"
    assert "the fewest any plan has is 1 (a–b)" in reason.detail
    assert min(len(blocking_pairs_oracle(doc, c)) for c, _ in feasible_selections(doc)) == 1


@pytest.mark.parametrize("seed", range(30))
def test_auto_on_a_plain_matching_with_side_rules_is_exact(seed):
    """auto first tries blossom without the side rules and keeps its plan only when that
    plan meets them; either way the answer is the brute-force optimum."""
    rng = random.Random(600 + seed)
    doc = with_regions(rng, random_capacitated_doc(rng, rng.randint(4, 7), 10, max_capacity=1))
    region = rng.choice([x["region"] for x in doc["institutions"]])
    doc["fairness"] = {"minimums": [{"group": region, "share": rng.choice([0.5, 1.0])}]}
    if rng.random() < 0.5:
        doc["stability"] = "require"
    members = {x["id"] for x in doc["institutions"] if x["region"] == region}
    share = doc["fairness"]["minimums"][0]["share"]
    best = None
    for chosen, total in feasible_selections(doc):
        matched = members & (set().union(*chosen) if chosen else set())
        if len(matched) < share * len(members) - 1e-9:
            continue
        if doc.get("stability") == "require" and blocking_pairs_oracle(doc, chosen):
            continue
        best = total if best is None else max(best, total)
    solution = solve_doc(doc)
    if best is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL, solution.explanations
    assert_verified(solution)
    assert solution.objective == pytest.approx(best, abs=1e-6)


def test_regression_a_pair_inside_a_group_counted_one_matched_member():
    """Bug: PuLP's LpAffineExpression keeps the last coefficient of a repeated variable, so
    a pair with both members in the group counted once in its matched minimum, and HiGHS
    and CBC called a feasible instance infeasible (CP-SAT did not)."""
    doc = {
        "kind": "matching",
        "institutions": [
            {"id": "y1", "region": "Yunnan"},
            {"id": "c1", "region": "Chongqing"},
            {"id": "c2", "region": "Chongqing"},
            {"id": "c3", "region": "Chongqing"},
        ],
        "scores": [
            {"a": "c1", "b": "c2", "score": 1.0},
            {"a": "y1", "b": "c3", "score": 1.0},
        ],
        "fairness": {"minimums": [{"group": "Chongqing", "matched": 3}]},
    }
    for solver in ("highs", "cbc", "cp-sat"):
        solution = solve_doc(doc, solver=solver)
        assert solution.status == Status.OPTIMAL, solver
        assert solution.objective == pytest.approx(2.0)


def test_reasons_for_the_unmatched_name_the_side_rules_when_they_shape_the_plan():
    doc = json.loads((INSTANCES / "east-west-fair.json").read_text())
    solution = solve_document(doc)
    taken = [e for e in solution.explanations if e.code in ("partners_taken", "not_selected")]
    assert taken and all("without the fairness rules (minimums for" in e.detail for e in taken)
    # The plan without the rules is the east-west round's own: a reason says the rules leave
    # an institution out exactly when that plan pairs it.
    plain = solve_document(json.loads((INSTANCES / "east-west-counterparts.json").read_text()))
    assert plain.solution is not None
    paired = {x for p in plain.solution["pairs"] for x in (p["a"], p["b"])}
    for e in taken:
        assert ("those rules leave it out" in e.detail) == (e.subject in paired), e.detail
    assert {e.subject for e in taken} & paired  # some are left out by the rules
    assert not any("without" in e.detail for e in plain.explanations)


def test_side_rules_are_checked_when_the_document_is_read():
    from optimizer.core.documents import parse_document

    doc = {
        "kind": "matching",
        "institutions": [{"id": "a", "region": "Sichuan"}, {"id": "b", "region": "Yunnan"}],
        "fairness": {"minimums": [{"group": "Sichaun", "matched": 1}], "groups": ["Tibet"]},
    }
    issues = {(i.code, i.path): i.detail for i in parse_document(doc).issues}
    assert "did you mean 'Sichuan'?" in issues[("unknown_reference", "fairness.minimums[0].group")]
    assert ("unknown_reference", "fairness.groups[0]") in issues
    grouped = {
        "kind": "matching",
        "mode": "groups",
        "institutions": [{"id": "a", "region": "Sichuan"}, {"id": "b"}],
        "fairness": {"objective": "max_min"},
        "stability": "require",
    }
    codes = {(i.code, i.path) for i in parse_document(grouped).issues}
    # Fairness holds in groups mode too; blocking pairs do not (contract 5.5.1).
    assert codes == {("pairs_mode_only", "stability")}


@pytest.mark.parametrize("example", ["east-west-stable", "east-west-fair"])
def test_the_three_backends_agree_on_the_side_rules_of_the_examples(example):
    doc = json.loads((INSTANCES / f"{example}.json").read_text())
    doc.get("fairness", {}).pop("objective", None)  # max_min: CP-SAT needs longer to prove
    found = set()
    for solver in ("highs", "cbc", "cp-sat"):
        solution = solve_document(doc, overrides={"solver": solver, "threads": 1})
        assert solution.status == Status.OPTIMAL, solver
        assert solution.verification.valid
        found.add(round(solution.objective, 6))
    assert len(found) == 1


def test_the_price_of_each_rule_matches_brute_force():
    """With both families set, price_of_rules gives the best total without both, without
    fairness alone and without stability alone: each against enumeration (issue #17).

    With scores read as symmetric preferences a stable plan is nearly always unique, so a
    fairness minimum that it misses leaves no plan at all: the minimum here is what the best
    stable plan gives the region it serves most, and the prices come from plans that are
    not stable or not fair."""
    rng = random.Random(700)
    solved = binding = 0
    for _ in range(80):
        doc = with_regions(rng, random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9))
        selections = list(feasible_selections(doc))
        if not selections:
            continue

        def served(chosen, r, doc=doc):
            group = {x["id"] for x in doc["institutions"] if x["region"] == r}
            return len(group & (set().union(*chosen) if chosen else set()))

        stable_plans = [(c, t) for c, t in selections if not blocking_pairs_oracle(doc, c)]
        if not stable_plans:
            continue
        best_stable = max(stable_plans, key=lambda plan: plan[1])[0]
        counts = {r: served(best_stable, r) for r in REGIONS}
        region = max(REGIONS, key=lambda r: counts[r])
        if not counts[region]:
            continue
        members = {x["id"] for x in doc["institutions"] if x["region"] == region}
        doc["fairness"] = {"minimums": [{"group": region, "matched": counts[region]}]}
        doc["stability"] = "require"

        def fair(chosen, members=members, least=counts[region]):
            return len(members & (set().union(*chosen) if chosen else set())) >= least

        def stable(chosen, doc=doc):
            return not blocking_pairs_oracle(doc, chosen)

        def best(keep, selections=selections):
            return max((total for chosen, total in selections if keep(chosen)), default=None)

        solver = rng.choice(["highs", "cbc", "cp-sat"])
        solution = solve_doc(doc, solver=solver)
        total = best(lambda c: fair(c) and stable(c))
        if total is None:
            assert solution.status == Status.INFEASIBLE
            continue
        assert solution.status == Status.OPTIMAL, (solver, solution.explanations)
        assert solution.objective == pytest.approx(total, abs=1e-6)
        price = solution.kpis["price_of_rules"]
        expected = {"all": best(lambda c: True), "fairness": best(stable), "stability": best(fair)}
        assert set(price) == set(expected)
        for label, without in expected.items():
            assert price[label]["exact"]
            assert price[label]["total_without"] == pytest.approx(without, abs=1e-6), label
            assert price[label]["price"] == pytest.approx(without - total, abs=1e-6), label
        solved += 1
        binding += price["all"]["price"] > 1e-9 and price["stability"]["price"] > 1e-9
    assert solved >= 20 and binding >= 3, (solved, binding)


@pytest.mark.parametrize("mode", ["pairs", "groups"])
@pytest.mark.parametrize("solver", ["highs", "cbc", "cp-sat"])
def test_regression_constraint_names_could_collide(mode, solver):
    """Bug: rows were named after ids and group names alone. PuLP writes '-' and ' ' as '_'
    and refuses two rows of one name, so two minimums for one region, or the ids 'u-1' and
    'u_1', or the regions 'A B' and 'A_B', ended the solve in ``error``."""
    doc = {
        "kind": "matching",
        "mode": mode,
        "institutions": [
            {"id": "u-1", "region": "A B", "capacity": 2},
            {"id": "u_1", "region": "A_B", "capacity": 2},
            {"id": "v", "region": "C", "capacity": 2},
        ],
        "scores": [{"a": "u-1", "b": "v", "score": 1.0}, {"a": "u_1", "b": "v", "score": 2.0}],
        "group": {"max_size": 2},
        "fairness": {
            "minimums": [{"group": "A B", "matched": 1}, {"group": "A B", "share": 0.5}],
            "objective": "max_min",
        },
        "stability": "penalise" if mode == "pairs" else "report",
    }
    solution = solve_doc(doc, solver=solver)
    assert_verified(solution)
    assert solution.status == Status.OPTIMAL
