"""Unknown ids and unknown field names come with the nearest known one, when one is close."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimizer.core.documents import parse_document, resolve_options
from optimizer.core.issues import IssueCollector, did_you_mean, issues_from_validation_error


@pytest.mark.parametrize(
    ("value", "choices", "hint"),
    [
        ("cryo-em1", ["cryo-em-1", "nmr-1", "hpc-1"], "; did you mean 'cryo-em-1'?"),
        ("capasity", ["capacity", "min_partners", "hub"], "; did you mean 'capacity'?"),
        ("neded_by", ["needed_by", "loan_days"], "; did you mean 'needed_by'?"),
        # sharing a suffix is not a typo
        ("lzu-lib", ["cqu-lib", "xju-lib"], ""),
        ("pku", ["cqu", "scu", "xju"], ""),
        ("anything", [], ""),
        (7, ["7"], ""),  # not a string: nothing to compare
    ],
)
def test_did_you_mean(value, choices, hint):
    assert did_you_mean(value, choices) == hint


def test_the_suggestion_does_not_depend_on_set_order():
    assert did_you_mean("em-3", {"em-1", "em-2"}) == did_you_mean("em-3", {"em-2", "em-1"})


def test_an_unknown_reference_suggests_the_nearest_id():
    check = IssueCollector()
    assert not check.reference("cryo-em1", {"cryo-em-1", "nmr-1"}, "x[0]", "instrument")
    assert not check.reference("zzz", {"cryo-em-1", "nmr-1"}, "x[1]", "instrument")
    details = [i.detail for i in check.issues]
    assert details == [
        "instrument 'cryo-em1' is not defined; did you mean 'cryo-em-1'?",
        "instrument 'zzz' is not defined",
    ]


class Leg(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    minutes: int = 0


class Trip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    legs: list[Leg] | None = None
    by_day: dict[str, Leg] = Field(default_factory=dict)
    first: Leg | None = None


def unknown_field_details(data: dict, model: type[BaseModel] | None = Trip) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        Trip.model_validate(data)
    return {i.path: i.detail for i in issues_from_validation_error(info.value, model)}


def test_an_unknown_field_suggests_a_field_of_the_model_at_that_place():
    details = unknown_field_details(
        {
            "legss": [],
            "first": {"minutess": 3},
            "by_day": {"mon": {"fro": "a"}},
            "legs": [{"from": "a"}, {"from": "b", "minute": 1}],
        }
    )
    assert details["legss"].endswith("did you mean 'legs'?")
    assert details["first.minutess"].endswith("did you mean 'minutes'?")
    # the alias a document writes, not the Python name
    assert details["by_day.mon.fro"].endswith("did you mean 'from'?")
    assert details["legs[1].minute"].endswith("did you mean 'minutes'?")


def test_no_suggestion_without_the_model_or_without_a_close_name():
    assert unknown_field_details({"legz": []}, model=None) == {"legz": "legz is not a known field"}
    assert unknown_field_details({"colour": 1}) == {"colour": "colour is not a known field"}


def test_documents_suggest_field_names_and_kinds():
    parsed = parse_document({"kind": "matching", "institution": [{"id": "a"}]})
    details = {i.path: i.detail for i in parsed.issues}
    assert details["institution"].endswith("did you mean 'institutions'?")
    parsed = parse_document({"kind": "matchng", "institutions": [{"id": "a"}]})
    assert parsed.issues[0].detail.endswith("did you mean 'matching'?")
    parsed = parse_document(
        {
            "kind": "loans",
            "horizon": {"start": "2026-12-01", "end": "2026-12-31"},
            "libraries": [{"id": "a", "max_outgoin": 1}],
        }
    )
    details = {i.path: i.detail for i in parsed.issues}
    assert details["libraries[0].max_outgoin"].endswith("did you mean 'max_outgoing'?")


def test_option_overrides_suggest_option_names():
    _, issues = resolve_options(
        parse_document({"kind": "matching", "institutions": [{"id": "a"}]}).instance,
        {"time_limit": 5},
    )
    assert [(i.code, i.path) for i in issues] == [("unknown_field", "options.time_limit")]
    assert issues[0].detail.endswith("did you mean 'time_limit_s'?")
