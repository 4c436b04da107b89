"""Options, statuses, gaps and the solution envelope of FORMATS sections 1-2."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from optimizer.core.envelope import (
    Explanation,
    Options,
    RunInfo,
    Solution,
    Status,
    Verification,
    proven_optimal,
    relative_gap,
)
from optimizer.core.issues import Issue


def test_status_values_are_the_contract_words():
    assert {s.value for s in Status} == {
        "optimal",
        "feasible",
        "infeasible",
        "no_solution",
        "invalid",
        "error",
    }


def test_option_defaults_follow_the_contract():
    o = Options()
    assert (o.time_limit_s, o.solver, o.threads, o.seed, o.relative_gap, o.explain) == (
        30,
        "auto",
        0,
        0,
        0.0,
        True,
    )


def test_merged_applies_only_given_overrides():
    base = Options(time_limit_s=12, solver="cbc", seed=4)
    merged = base.merged({"solver": "highs", "seed": None, "threads": 2})
    assert (merged.time_limit_s, merged.solver, merged.seed, merged.threads) == (12, "highs", 4, 2)
    assert (base.solver, base.threads) == ("cbc", 0)  # the original is untouched


def test_merged_without_changes_is_the_same_object():
    base = Options(seed=9)
    assert base.merged(None) is base
    assert base.merged({"seed": None, "solver": None}) is base


@pytest.mark.parametrize(
    "overrides",
    [{"time_limit_s": 0}, {"time_limit_s": -1}, {"threads": -2}, {"relative_gap": -0.1}, {"x": 1}],
)
def test_merged_validates_the_overrides(overrides):
    with pytest.raises(ValidationError):
        Options().merged(overrides)


def test_options_reject_unknown_fields():
    with pytest.raises(ValidationError):
        Options.model_validate({"time_limit": 5})


@pytest.mark.parametrize(
    ("objective", "bound", "gap"),
    [
        (10.0, 10.0, 0.0),
        (10.0, 12.0, 0.2),
        (-10.0, -8.0, 0.2),
        (0.0, 0.0, 0.0),
        (0.0, 1e-9, 1.0),  # |objective| below 1e-9 divides by 1e-9
        (None, 3.0, None),
        (3.0, None, None),
    ],
)
def test_relative_gap(objective, bound, gap):
    result = relative_gap(objective, bound)
    assert result == (None if gap is None else pytest.approx(gap))


@pytest.mark.parametrize(
    ("objective", "bound", "wanted", "proven"),
    [
        (10.0, 10.0, 0.0, True),
        (10.0, 10.0 + 5e-7, 0.0, True),  # within the absolute 1e-6
        (10.0, 10.01, 0.0, False),
        (10.0, 10.01, 0.01, True),
        (10.0, 10.5, 0.01, False),
        (10.0, None, 1.0, False),  # no bound proves nothing
        (0.0, 0.5, 0.1, False),
    ],
)
def test_proven_optimal(objective, bound, wanted, proven):
    assert proven_optimal(objective, bound, wanted) is proven


def test_solution_document_round_trips_through_json():
    solution = Solution(
        kind="matching",
        name="east-west",
        status=Status.FEASIBLE,
        objective=12.5,
        bound=13.0,
        gap=0.04,
        solution={"pairs": [], "unmatched": ["a"]},
        explanations=[Explanation(subject="a", code="capacity_zero", detail="a has capacity 0")],
        verification=Verification(checked=True, valid=True, objective=12.5),
        issues=[Issue(code="x", path="p", detail="d")],
        run=RunInfo(solver="highs", seed=1, threads=2, time_limit_s=5, instance_sha256="ab"),
    )
    text = solution.model_dump_json()
    data = json.loads(text)
    assert data["status"] == "feasible"
    assert set(data) >= {
        "kind",
        "name",
        "status",
        "objective",
        "bound",
        "gap",
        "solution",
        "explanations",
        "kpis",
        "verification",
        "issues",
        "run",
    }
    assert set(data["verification"]) >= {"checked", "valid", "violations"}
    assert set(data["issues"][0]) >= {"code", "severity", "path", "detail"}
    assert set(data["run"]) >= {
        "solver",
        "solver_version",
        "threads",
        "seed",
        "time_limit_s",
        "runtime_s",
        "instance_sha256",
    }
    assert Solution.model_validate_json(text) == solution
