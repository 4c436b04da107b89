"""Blocking pairs of a pairs-mode plan (contract 5.4): the report agrees with a count made
from the contract's definition alone, on the shipped examples and on random instances."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.verify import verify
from tests.matching.helpers import (
    P,
    blocking_pairs_oracle,
    matching,
    pair_set,
    random_capacitated_doc,
    solve_doc,
)

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "matching"


def reported(solution) -> set[frozenset[str]]:
    found = solution.kpis["worst_blocking_pairs"]
    return {P(p["a"], p["b"]) for p in found}


@pytest.mark.parametrize("example", ["east-west-counterparts", "sichuan-industry"])
def test_the_examples_report_as_many_blocking_pairs_as_an_independent_count(example):
    doc = json.loads((INSTANCES / f"{example}.json").read_text())
    solution = solve_document(doc)
    assert solution.status == Status.OPTIMAL
    oracle = blocking_pairs_oracle(doc, list(pair_set(solution)))
    assert solution.kpis["blocking_pairs"] == len(oracle) > 0
    for p in solution.kpis["worst_blocking_pairs"]:
        gains = oracle[P(p["a"], p["b"])]
        expected = gains if p["a"] < p["b"] else gains[::-1]
        assert (p["gain_a"], p["gain_b"]) == pytest.approx(expected, abs=1e-9)
    shown = [e for e in solution.explanations if e.code == "blocking_pair"]
    assert {P(*e.subject.split("–")) for e in shown} == reported(solution)


@pytest.mark.parametrize("seed", range(30))
def test_blocking_pairs_match_the_definition_on_random_plans(seed):
    rng = random.Random(seed)
    doc = random_capacitated_doc(rng, rng.randint(4, 7), max_edges=12)
    solution = solve_doc(doc)
    if solution.status == Status.INFEASIBLE:
        return
    oracle = blocking_pairs_oracle(doc, list(pair_set(solution)))
    assert solution.kpis["blocking_pairs"] == len(oracle)
    assert reported(solution) <= set(oracle)
    # The verifier counts them its own way: under penalise, each costs the penalty.
    penalised = MatchingInstance.model_validate({**doc, "stability": "penalise"})
    report = verify(penalised, solution.solution)
    assert report.objective == pytest.approx(solution.objective - 0.1 * len(oracle), abs=1e-9)


def test_a_free_slot_blocks_but_a_tie_and_a_required_partner_do_not():
    # a-b is required. c is free, so it would take d (0.5 > its free slot's 0); d holds e at
    # 0.4, so it gains 0.1. a would drop nothing for c: its only partner is required.
    doc = matching(
        ["a", "b", "c", "d", "e"],
        {"a-b": 1.0, "a-c": 2.0, "c-d": 0.5, "d-e": 0.4, "b-e": 0.4},
        rules={"required": [["a", "b"]]},
    )
    plan = {
        "pairs": [
            {"a": "a", "b": "b", "score": 1.0},
            {"a": "d", "b": "e", "score": 0.4},
        ],
        "unmatched": ["c"],
    }
    instance = MatchingInstance.model_validate({**doc, "stability": "require"})
    assert verify(instance, plan).violations == [
        "pair (c, d) blocks the plan: both would rather pair with each other (stability require)"
    ]
    assert blocking_pairs_oracle(doc, [P("a", "b"), P("d", "e")]) == {
        P("c", "d"): pytest.approx((0.5, 0.1))
    }
    # A tie does not block: with c-d at 0.4, d is as well off with e.
    tied = matching(["a", "b", "c", "d", "e"], {"a-b": 1.0, "c-d": 0.4, "d-e": 0.4})
    assert verify(MatchingInstance.model_validate({**tied, "stability": "require"}), plan).valid
