"""Malformed matching documents: each is ``invalid`` with exactly the expected issues.

The documents live in ``tests/data/invalid/matching-*.json``; every one of them must be
listed here, with the issue codes and paths it has to produce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Status

DATA = Path(__file__).resolve().parent.parent / "data" / "invalid"

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "malformed-json": {("malformed_json", "")},
    "not-an-object": {("wrong_type", "")},
    "missing-kind": {("missing_field", "kind")},
    "unknown-kind": {("unknown_kind", "kind")},
    "unknown-top-level-field": {("unknown_field", "colour")},
    "misspelt-institutions": {
        ("unknown_field", "institution"),
        ("missing_field", "institutions"),
    },
    "unknown-mode": {("invalid_choice", "mode")},
    "unknown-institution-field": {("unknown_field", "institutions[1].capasity")},
    "duplicate-id": {("duplicate_id", "institutions[3].id")},
    "negative-capacity": {("out_of_range", "institutions[2].capacity")},
    "capacity-not-integer": {("wrong_type", "institutions[0].capacity")},
    "strength-above-one": {("out_of_range", "institutions[0].strengths.medicine")},
    "min-partners-above-capacity": {
        ("min_partners_above_capacity", "institutions[1].min_partners")
    },
    "unknown-type": {("invalid_choice", "institutions[1].type")},
    "latitude-out-of-range": {("out_of_range", "institutions[0].location.lat")},
    "nan-latitude": {("not_finite", "institutions[0].location.lat")},
    "score-unknown-id": {("unknown_reference", "scores[1].b")},
    "self-pair": {("self_pair", "scores[0]")},
    "duplicate-scored-pair": {("duplicate_pair", "scores[2]")},
    "nan-score": {("not_finite", "scores[0].score")},
    "infinite-weight": {("not_finite", "weights.need")},
    "forbidden-unknown-id": {("unknown_reference", "rules.forbidden[0][1]")},
    "misspelt-required-id": {("unknown_reference", "rules.required[2][1]")},
    "forbidden-self-pair": {("self_pair", "rules.forbidden[0]")},
    "required-triple": {("too_long", "rules.required[0]")},
    "group-min-above-max": {("min_above_max", "group.min_size")},
    "time-limit-zero": {("out_of_range", "options.time_limit_s")},
    "unsupported-solver": {("unsupported_solver", "options.solver")},
    "empty-institutions": {("too_short", "institutions")},
}

# The offending value or id each detail must quote, so a planner can find it.
QUOTED = {
    "unknown-kind": "matchmaking",
    "duplicate-id": "cqu",
    "negative-capacity": "-1",
    "strength-above-one": "1.5",
    "min-partners-above-capacity": "scu",
    "unknown-type": "hospital",
    "score-unknown-id": "zju",
    "self-pair": "cqu",
    "duplicate-scored-pair": "scu",
    "forbidden-unknown-id": "pku",
    "group-min-above-max": "5",
    "time-limit-zero": "0",
    "unsupported-solver": "greedy",
    "nan-score": "nan",
    # the nearest known id or field name, for a misspelling
    "misspelt-required-id": "did you mean 'cryo-lab-1'?",
    "unknown-institution-field": "did you mean 'capacity'?",
    "misspelt-institutions": "did you mean 'institutions'?",
}


def read(case: str) -> bytes:
    return (DATA / f"matching-{case}.json").read_bytes()


def test_every_invalid_document_is_listed():
    on_disk = {p.name[len("matching-") : -len(".json")] for p in DATA.glob("matching-*.json")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_issue_codes_and_paths(case):
    parsed = parse_document(read(case), default_name=f"matching-{case}")
    assert parsed.instance is None
    found = {(i.code, i.path) for i in parsed.issues}
    assert found == EXPECTED[case], [i.model_dump() for i in parsed.issues]
    for issue in parsed.issues:
        assert issue.severity == "error"
        assert issue.detail and "\n" not in issue.detail
    if case in QUOTED:
        assert any(QUOTED[case] in i.detail for i in parsed.issues), parsed.issues


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_solving_an_invalid_document_returns_invalid_never_raises(case):
    solution = solve_document(read(case), default_name=f"matching-{case}")
    assert solution.status == Status.INVALID
    assert {(i.code, i.path) for i in solution.issues} == EXPECTED[case]
    assert solution.solution is None and solution.objective is None
    assert solution.name is not None
    json.loads(solution.model_dump_json())  # the document itself is valid JSON


def test_name_comes_from_the_document_when_it_has_one():
    raw = json.dumps({"kind": "matching", "name": "east-west", "institutions": []})
    assert solve_document(raw, default_name="file-stem").name == "east-west"


def test_every_problem_is_reported_not_only_the_first():
    doc = {
        "kind": "matching",
        "institutions": [{"id": "a", "capacity": -1}, {"id": "a"}, {"id": "b", "hub": "x"}],
        "rules": {"forbidden": [["a", "zz"]]},
        "group": {"min_size": 0},
    }
    paths = {i.path for i in parse_document(doc).issues}
    assert {"institutions[0].capacity", "institutions[2].hub", "group.min_size"} <= paths
    # cross-field checks run once the fields themselves are well formed
    doc = {
        "kind": "matching",
        "institutions": [{"id": "a"}, {"id": "a"}, {"id": "b", "min_partners": 2}],
        "scores": [{"a": "a", "b": "q", "score": 1}],
        "rules": {"forbidden": [["a", "zz"]], "required": [["b", "b"]]},
        "group": {"min_size": 3, "max_size": 2},
    }
    assert {(i.code, i.path) for i in parse_document(doc).issues} == {
        ("duplicate_id", "institutions[1].id"),
        ("min_partners_above_capacity", "institutions[2].min_partners"),
        ("unknown_reference", "scores[0].b"),
        ("unknown_reference", "rules.forbidden[0][1]"),
        ("self_pair", "rules.required[0]"),
        ("min_above_max", "group.min_size"),
    }


def test_option_overrides_are_validated_like_the_file():
    raw = json.dumps({"kind": "matching", "institutions": [{"id": "a"}, {"id": "b"}]})
    solution = solve_document(raw, overrides={"time_limit_s": -3})
    assert solution.status == Status.INVALID
    assert {(i.code, i.path) for i in solution.issues} == {("out_of_range", "options.time_limit_s")}
    solution = solve_document(raw, overrides={"solver": "rota"})
    assert solution.status == Status.INVALID
    assert {(i.code, i.path) for i in solution.issues} == {("unsupported_solver", "options.solver")}


def test_unsupported_solver_is_found_by_validation_alone():
    """Regression: options.solver = "greedy" (a baseline of another kind) passed
    parse_document, so `unishare validate` called the file valid and only a solve refused
    it."""
    parsed = parse_document(read("unsupported-solver"))
    assert [(i.code, i.path) for i in parsed.issues] == [("unsupported_solver", "options.solver")]
    assert "auto" in parsed.issues[0].detail  # it lists the choices


def test_nan_latitude_is_reported_as_not_finite():
    """A NaN coordinate used to read "nan: input should be less than or equal to 90"."""
    (issue,) = parse_document(read("nan-latitude")).issues
    assert "finite" in issue.detail
