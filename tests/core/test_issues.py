"""Issue paths, pydantic error translation and the cross-field issue collector."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optimizer.core.issues import (
    InstanceIssues,
    IssueCollector,
    format_path,
    issues_from_validation_error,
)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("institutions", 3, "capacity"), "institutions[3].capacity"),
        (("rules", "forbidden", 0, 1), "rules.forbidden[0][1]"),
        (("institutions", 0, "strengths", "medicine"), "institutions[0].strengths.medicine"),
        (("kind",), "kind"),
        ((), ""),
        ((2, "id"), "[2].id"),
    ],
)
def test_format_path(loc, path):
    assert format_path(loc) == path


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    size: int = Field(1, ge=0)
    colour: Literal["red", "blue"] = "red"
    weight: float = Field(1.0, allow_inf_nan=False)
    code: str = Field("a", pattern="^[a-z]+$")


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Box:
        check = IssueCollector()
        check.unique_ids(self.items, "items", "item")
        check.raise_if_any()
        return self


def issues_of(data) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Box.model_validate(data)
    return [(i.code, i.path) for i in issues_from_validation_error(info.value)]


def test_pydantic_errors_become_stable_codes_with_paths():
    data = {
        "items": [
            {"id": "a", "size": -1},
            {"id": "b", "colour": "green", "extra": 1},
            {"size": 2, "weight": float("nan")},
            {"id": "c", "size": "big"},
        ]
    }
    assert sorted(issues_of(data)) == sorted(
        [
            ("out_of_range", "items[0].size"),
            ("invalid_choice", "items[1].colour"),
            ("unknown_field", "items[1].extra"),
            ("missing_field", "items[2].id"),
            ("not_finite", "items[2].weight"),
            ("wrong_type", "items[3].size"),
        ]
    )
    assert issues_of({"items": []}) == [("too_short", "items")]


def test_unmapped_pydantic_types_keep_their_own_name():
    assert issues_of({"items": [{"id": "a", "code": "A1"}]}) == [
        ("string_pattern_mismatch", "items[0].code")
    ]


def test_details_name_the_field_and_the_value():
    with pytest.raises(ValidationError) as info:
        Box.model_validate({"items": [{"id": "a", "size": -7, "bogus": 1}, {"size": 1}]})
    details = {i.path: i.detail for i in issues_from_validation_error(info.value)}
    assert details["items[0].size"].startswith("items[0].size = -7: ")
    assert details["items[0].bogus"] == "items[0].bogus is not a known field"
    assert details["items[1].id"] == "items[1].id is required"
    long = "X" * 200
    with pytest.raises(ValidationError) as info:
        Box.model_validate({"items": [{"id": "a", "code": long}]})
    (issue,) = issues_from_validation_error(info.value)
    assert len(issue.detail) < 200 and "..." in issue.detail


def test_instance_issues_keep_their_paths_through_pydantic():
    """Cross-field issues are not folded into one ValueError message by pydantic."""
    with pytest.raises(InstanceIssues) as info:
        Box.model_validate({"items": [{"id": "a"}, {"id": "b"}, {"id": "a"}, {"id": "b"}]})
    assert [(i.code, i.path) for i in info.value.issues] == [
        ("duplicate_id", "items[2].id"),
        ("duplicate_id", "items[3].id"),
    ]
    assert not isinstance(info.value, ValueError)
    assert "items[2].id" in str(info.value)


def test_collector_references_and_raising():
    check = IssueCollector()
    assert check.reference("a", {"a", "b"}, "pairs[0][0]", "institution")
    assert not check.reference("z", {"a", "b"}, "pairs[0][1]", "institution")
    assert [(i.code, i.path) for i in check.issues] == [("unknown_reference", "pairs[0][1]")]
    assert "'z'" in check.issues[0].detail
    with pytest.raises(InstanceIssues):
        check.raise_if_any()
    IssueCollector().raise_if_any()  # nothing collected: no exception
