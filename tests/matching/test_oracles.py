"""Solver objectives against independent exact oracles.

- capacity-1 pairing with explicit scores: networkx ``max_weight_matching`` (exact blossom);
  also with formula scores and candidate rules, blossom run on the pairs that the test's own
  reading of the contract (``helpers.contract_candidates``) keeps;
- capacitated pairing and groups on at most 9 institutions: brute-force enumeration of every
  feasible selection / partition (``helpers.brute_force_pairs`` / ``brute_force_groups``),
  including instances with no feasible solution at all.
"""

from __future__ import annotations

import random

import networkx as nx
import pytest

from optimizer.core.envelope import Status
from tests.matching.helpers import (
    BACKENDS,
    TOL,
    assert_verified,
    brute_force_groups,
    brute_force_pairs,
    contract_candidates,
    ids,
    random_capacitated_doc,
    random_groups_doc,
    random_profiles,
    random_scored_pairs,
    solve_doc,
)

# ------------------------------------------------------------------ networkx blossom

# (seed, institutions, density): sparse and dense graphs from 10 to 60 institutions
BLOSSOM_CASES = [
    (1, 10, 0.3),
    (2, 10, 1.0),
    (3, 25, 0.15),
    (4, 25, 0.8),
    (5, 40, 0.08),
    (6, 40, 0.5),
    (7, 60, 0.05),
    (8, 60, 0.4),
]


def blossom_doc(seed: int, n: int, density: float) -> dict:
    rng = random.Random(seed)
    # Many decimals on purpose: the objective must still match the oracle within 1e-6.
    scores = random_scored_pairs(rng, n, density, low=0.001, high=10.0)
    return {
        "kind": "matching",
        "mode": "pairs",
        "institutions": [{"id": x} for x in ids(n)],
        "scores": scores,
    }


def blossom_optimum(doc: dict) -> tuple[float, nx.Graph]:
    graph = nx.Graph()
    graph.add_nodes_from(x["id"] for x in doc["institutions"])
    for s in doc["scores"]:
        graph.add_edge(s["a"], s["b"], weight=s["score"])
    matching = nx.max_weight_matching(graph, maxcardinality=False)
    return sum(graph[a][b]["weight"] for a, b in matching), graph


def assert_is_matching(solution, graph: nx.Graph) -> None:
    """Each pair is an edge with its own score, and nobody is in two pairs."""
    seen: set[str] = set()
    total = 0.0
    for p in solution.solution["pairs"]:
        assert graph.has_edge(p["a"], p["b"])
        assert p["score"] == pytest.approx(graph[p["a"]][p["b"]]["weight"], abs=1e-12)
        assert p["a"] not in seen and p["b"] not in seen
        seen |= {p["a"], p["b"]}
        total += p["score"]
    assert total == pytest.approx(solution.objective, abs=TOL)
    assert set(solution.solution["unmatched"]) == set(graph.nodes) - seen


@pytest.mark.parametrize(("seed", "n", "density"), BLOSSOM_CASES)
def test_capacity_one_pairing_matches_blossom(seed, n, density):
    doc = blossom_doc(seed, n, density)
    expected, graph = blossom_optimum(doc)
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL
    assert_verified(solution)
    assert solution.objective == pytest.approx(expected, abs=TOL)
    assert solution.bound == pytest.approx(expected, abs=TOL)
    assert_is_matching(solution, graph)


# The default solver for plain matchings is itself a blossom algorithm (rustworkx), so the
# MIP and CP-SAT formulations are held to the same oracle: HiGHS on every case, CBC and
# CP-SAT on a sparse and a dense one.
BACKEND_BLOSSOM_CASES = [("highs", *case) for case in BLOSSOM_CASES] + [
    (backend, *case)
    for backend in ("cbc", "cp-sat")
    for case in (BLOSSOM_CASES[2], BLOSSOM_CASES[5])
]


@pytest.mark.parametrize(("backend", "seed", "n", "density"), BACKEND_BLOSSOM_CASES)
def test_each_backend_matches_blossom(backend, seed, n, density):
    doc = blossom_doc(seed, n, density)
    expected, graph = blossom_optimum(doc)
    solution = solve_doc(doc, solver=backend)
    assert solution.status == Status.OPTIMAL
    assert solution.run.solver == backend
    assert_verified(solution)
    assert solution.objective == pytest.approx(expected, abs=TOL)
    assert_is_matching(solution, graph)


FORMULA_RULES = [
    {"allowed_zone_pairs": [["west", "east"]]},
    {"max_distance_km": 1500, "min_score": 0.3},
    {"same_region": True},
    {"allowed_type_pairs": [["university", "enterprise"], ["university", "university"]]},
]


@pytest.mark.parametrize("case", range(len(FORMULA_RULES)))
def test_formula_scores_and_rules_match_blossom_on_the_contract_candidates(case):
    """The candidate rules and the score formula, read from the contract by the test's own
    oracle, then blossom on what survives."""
    rng = random.Random(500 + case)
    institutions = random_profiles(rng, 40)
    for k, x in enumerate(institutions):
        x["capacity"] = 1
        x["type"] = ["university", "university", "enterprise", "government"][k % 4]
        if k % 7 == 0:
            del x["location"]
    doc = {
        "kind": "matching",
        "institutions": institutions,
        "weights": {"cross_zone_bonus": 0.1},
        "rules": FORMULA_RULES[case],
    }
    graph = nx.Graph()
    for pair, score in contract_candidates(doc).items():
        a, b = sorted(pair)
        graph.add_edge(a, b, weight=score)
    assert graph.number_of_edges() > 20
    expected = sum(graph[a][b]["weight"] for a, b in nx.max_weight_matching(graph))
    solution = solve_doc(doc)
    assert solution.status == Status.OPTIMAL
    assert_verified(solution)
    assert solution.objective == pytest.approx(expected, abs=TOL)
    assert all(graph.has_edge(p["a"], p["b"]) for p in solution.solution["pairs"])


# ------------------------------------------------------------------ capacitated pairing

CAPACITATED_SEEDS = range(40)


def capacitated_doc(seed: int) -> dict:
    rng = random.Random(1000 + seed)
    return random_capacitated_doc(rng, rng.randint(4, 9))


def check_against_brute_force_pairs(doc: dict, backend: str) -> None:
    expected = brute_force_pairs(doc)
    solution = solve_doc(doc, solver=backend)
    if expected is None:
        assert solution.status == Status.INFEASIBLE, solution.solution
        assert solution.explanations, "an infeasible instance must say why"
        assert solution.solution is None
    else:
        assert solution.status == Status.OPTIMAL, [e.detail for e in solution.explanations]
        assert_verified(solution)
        assert solution.objective == pytest.approx(expected[0], abs=TOL)


def test_capacitated_generator_covers_both_outcomes():
    """The seeds below include infeasible and feasible instances, and binding rules."""
    outcomes = [brute_force_pairs(capacitated_doc(s)) for s in CAPACITATED_SEEDS]
    infeasible = sum(o is None for o in outcomes)
    assert 4 <= infeasible <= len(outcomes) - 20
    docs = [capacitated_doc(s) for s in CAPACITATED_SEEDS]
    assert any(any(x["min_partners"] for x in d["institutions"]) for d in docs)
    assert any(any(x["capacity"] >= 2 for x in d["institutions"]) for d in docs)


@pytest.mark.parametrize("seed", CAPACITATED_SEEDS)
def test_capacitated_pairing_matches_brute_force(seed):
    check_against_brute_force_pairs(capacitated_doc(seed), "auto")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(0, 40, 4))
def test_capacitated_pairing_each_backend(backend, seed):
    check_against_brute_force_pairs(capacitated_doc(seed), backend)


def plain_doc(seed: int) -> dict:
    """Capacities 0 and 1 only, with min_partners, required and forbidden pairs: the plain
    matchings that the default solver hands to its blossom algorithm."""
    rng = random.Random(3000 + seed)
    return random_capacitated_doc(rng, rng.randint(4, 9), max_capacity=1)


def test_plain_generator_covers_both_outcomes():
    docs = [plain_doc(s) for s in range(30)]
    assert all(x["capacity"] <= 1 for d in docs for x in d["institutions"])
    assert any(x["min_partners"] for d in docs for x in d["institutions"])
    infeasible = sum(brute_force_pairs(d) is None for d in docs)
    assert 3 <= infeasible <= 20


@pytest.mark.parametrize("seed", range(30))
def test_plain_matching_with_rules_matches_brute_force(seed):
    check_against_brute_force_pairs(plain_doc(seed), "auto")


# ------------------------------------------------------------------ groups

GROUP_SEEDS = range(40)


def groups_doc(seed: int) -> dict:
    rng = random.Random(2000 + seed)
    # up to nine decimals: CP-SAT's integer master has to scale these exactly
    return random_groups_doc(rng, rng.randint(4, 9), decimals=(1, 4, 9))


def check_against_brute_force_groups(doc: dict, backend: str) -> None:
    expected = brute_force_groups(doc)
    solution = solve_doc(doc, solver=backend)
    if expected is None:
        assert solution.status == Status.INFEASIBLE, solution.solution
        assert solution.explanations, "an infeasible instance must say why"
    else:
        assert solution.status == Status.OPTIMAL, [e.detail for e in solution.explanations]
        assert_verified(solution)
        assert solution.objective == pytest.approx(expected[0], abs=TOL)
        group = doc["group"]
        for g in solution.solution["groups"]:
            assert group["min_size"] <= len(g["members"]) <= group["max_size"]


def test_groups_generator_covers_both_outcomes():
    docs = [groups_doc(s) for s in GROUP_SEEDS]
    outcomes = [brute_force_groups(d) for d in docs]
    infeasible = sum(o is None for o in outcomes)
    assert 4 <= infeasible <= len(outcomes) - 20
    for rule in ("cover_all", "same_region"):
        assert any(d["group"][rule] for d in docs)
    assert any(d["group"]["min_hubs"] for d in docs)
    assert any(d["rules"]["required"] for d in docs)
    assert any(d["rules"]["forbidden"] for d in docs)


@pytest.mark.parametrize("seed", GROUP_SEEDS)
def test_groups_match_brute_force(seed):
    check_against_brute_force_groups(groups_doc(seed), "auto")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(1, 40, 4))
def test_groups_each_backend(backend, seed):
    check_against_brute_force_groups(groups_doc(seed), backend)
