"""Scenarios: merge patches as RFC 7386 defines them, prices with honest ranges, and plan
diffs checked against counts made independently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Solution, Status
from optimizer.core.scenarios import compare_documents, merge_patch, price

INSTANCES = Path(__file__).resolve().parents[2] / "instances"

# RFC 7386, Appendix A: (target, patch, result).
RFC_7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_EXAMPLES)
def test_merge_patch_follows_rfc_7386(target, patch, result):
    before = json.dumps(target)
    assert merge_patch(target, patch) == result
    assert json.dumps(target) == before  # the base is not changed


def solved(objective: float, bound: float | None, status: Status = Status.OPTIMAL) -> Solution:
    return Solution(kind="loans", status=status, objective=objective, bound=bound)


def test_price_of_two_proven_optima_is_exact():
    p = price(solved(100.0, 100.0), solved(112.5, 112.5), maximize=False)
    assert (p.difference, p.low, p.high, p.exact) == (12.5, 12.5, 12.5, True)


def test_price_range_pairs_each_objective_with_the_other_bound():
    # Maximise: base optimum in [90, 100], variant optimum in [70, 75].
    p = price(
        solved(90.0, 100.0, Status.FEASIBLE), solved(70.0, 75.0, Status.FEASIBLE), maximize=True
    )
    assert (p.difference, p.low, p.high, p.exact) == (20.0, 15.0, 30.0, False)
    # Minimise: base optimum in [95, 100], variant optimum in [80, 90]: the variant is
    # cheaper by 5 to 20, so its price is -20 to -5.
    p = price(
        solved(100.0, 95.0, Status.FEASIBLE), solved(90.0, 80.0, Status.FEASIBLE), maximize=False
    )
    assert (p.difference, p.low, p.high) == (-10.0, -20.0, -5.0)


def test_a_missing_bound_leaves_that_side_open():
    p = price(solved(10.0, None, Status.FEASIBLE), solved(8.0, 9.0), maximize=True)
    assert (p.low, p.high, p.exact) == (1.0, None, False)


def loans_by_request(solution: Solution) -> dict[str, tuple[str, str, str]]:
    assert solution.solution is not None
    return {
        loan["request"]: (loan["lender"], loan["copy"], loan["ship"])
        for loan in solution.solution["loans"]
    }


def test_comparison_matches_separate_solves_of_each_scenario():
    base = json.loads((INSTANCES / "loans" / "six-libraries.json").read_text())
    options = {"threads": 1, "seed": 1, "time_limit_s": 30}
    variants = [
        ("cap", {"policies": {"max_imbalance": 1}}),
        ("late", {"penalties": {"late_per_day": 50.0}}),
    ]
    comparison = compare_documents(
        base,
        variants,
        solve_all=lambda docs: [solve_document(d, overrides=options) for d in docs],
    )
    reference = solve_document(base, overrides=options)
    assert comparison.base.objective == reference.objective
    assert comparison.maximize is False
    for (name, patch), result in zip(variants, comparison.variants, strict=True):
        separate = solve_document({**base, **patch, "name": name}, overrides=options)
        assert result.name == name and result.status == separate.status == Status.OPTIMAL
        assert result.objective == separate.objective
        before, after = loans_by_request(reference), loans_by_request(separate)
        assert result.diff is not None
        assert result.diff.kept == sum(1 for r in before if after.get(r) == before[r])
        assert result.diff.moved == sum(1 for r in before if r in after and after[r] != before[r])
        assert result.diff.dropped == len(before.keys() - after.keys())
        assert result.diff.added == len(after.keys() - before.keys())
        assert result.price is not None and result.price.exact
        assert result.price.difference == pytest.approx(separate.objective - reference.objective)
        for key, change in result.kpi_changes.items():
            assert (change.base, change.scenario) == (reference.kpis[key], separate.kpis[key])
    assert any(v.diff and v.diff.changed for v in comparison.variants)


def test_an_invalid_variant_is_reported_and_the_rest_compared():
    base = json.loads((INSTANCES / "loans" / "six-libraries.json").read_text())
    comparison = compare_documents(
        base,
        [("bad", {"penalties": {"unfilled": -1}}), ("other-kind", {"kind": "matching"})],
        solve_all=lambda docs: [solve_document(d) for d in docs],
    )
    bad, other = comparison.variants
    assert bad.status == Status.INVALID and bad.issues[0].path == "penalties.unfilled"
    assert bad.price is None and bad.diff is None
    assert other.status == Status.INVALID
