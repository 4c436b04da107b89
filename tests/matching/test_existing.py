"""Existing partnerships (incumbency): kept unless changing pays more than the keep bonus,
which is re-planning's change penalty; the broken ones are explained."""

from __future__ import annotations

import random

import pytest

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status
from tests.matching.helpers import P, matching, pair_set, random_capacitated_doc, solve_doc
from tests.matching.test_replan import replanned_optimum


def test_an_existing_pair_is_kept_unless_breaking_it_gains_more_than_the_bonus():
    # a-b and c-d exist (2.0 each); a-c now scores 4.5: breaking both gains 0.5.
    doc = matching(
        ["a", "b", "c", "d"],
        {"a-b": 2.0, "c-d": 2.0, "a-c": 4.5},
        existing=[["a", "b"], ["c", "d"]],
    )
    cheap = solve_doc(doc, change_penalty=0.1)
    assert pair_set(cheap) == {P("a", "c")}
    assert cheap.objective == pytest.approx(4.5 - 0.2)
    broken = [e for e in cheap.explanations if e.code == "existing_broken"]
    assert [e.subject for e in broken] == ["a–b", "c–d"]
    assert "gains more than keeping it is worth" in broken[0].detail
    dear = solve_doc(doc, change_penalty=0.3)
    assert pair_set(dear) == {P("a", "b"), P("c", "d")}
    assert dear.objective == pytest.approx(4.0)
    assert not [e for e in dear.explanations if e.code == "existing_broken"]


def test_an_existing_pair_that_is_no_longer_a_candidate_says_so():
    doc = matching(["a", "b", "c"], {"a-b": 1.0, "b-c": 2.0}, existing=[["a", "b"]])
    doc["rules"] = {"forbidden": [["a", "b"]]}
    solution = solve_doc(doc)
    (reason,) = [e for e in solution.explanations if e.code == "existing_broken"]
    assert "no longer a candidate" in reason.detail


@pytest.mark.parametrize("seed", range(20))
def test_existing_pairs_price_as_a_previous_plan(seed):
    rng = random.Random(500 + seed)
    doc = random_capacitated_doc(rng, rng.randint(4, 6), max_edges=9)
    names = [x["id"] for x in doc["institutions"]]
    existing = [sorted(rng.sample(names, 2)) for _ in range(rng.randint(1, 3))]
    existing = [list(p) for p in {tuple(p) for p in existing}]
    penalty = rng.choice([0.01, 0.5, 2.0, 5.0])
    expected = replanned_optimum(
        {**doc, "previous": {"pairs": [{"a": a, "b": b} for a, b in existing]}}, penalty
    )
    solution = solve_doc({**doc, "existing": existing}, change_penalty=penalty)
    if expected is None:
        assert solution.status == Status.INFEASIBLE
        return
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(expected, abs=1e-6)


def test_existing_partnerships_are_checked():
    doc = matching(["a", "b", "c"], {"a-b": 1.0}, existing=[["a", "x"], ["a", "b", "c"]])
    doc["previous"] = {"pairs": []}
    issues = {(i.code, i.path) for i in parse_document(doc).issues}
    assert ("unknown_reference", "existing[0][1]") in issues
    assert ("wrong_plan", "existing[1]") in issues
    assert ("wrong_plan", "existing") in issues


def test_the_price_of_rules_compares_total_scores_without_the_keep_bonus():
    # Keeping a-b (2.0) is worth 0.01, more than a-c's extra 0.005: the plan keeps it; the
    # best total score without the rules is still a-c's 2.005.
    doc = matching(
        [{"id": x, "region": "Sichuan"} for x in "abc"],
        {"a-b": 2.0, "a-c": 2.005},
        existing=[["a", "b"]],
        fairness={"minimums": [{"group": "Sichuan", "matched": 1}]},
    )
    solution = solve_doc(doc)
    assert pair_set(solution) == {P("a", "b")}
    price = solution.kpis["price_of_rules"]["all"]
    assert price["total_without"] == pytest.approx(2.005)
    assert price["price"] == pytest.approx(0.005)
