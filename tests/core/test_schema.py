"""The one base every kind's schema is built from."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ConfigDict, Field

from optimizer.core.envelope import InstanceBase, Options
from optimizer.core.issues import IssueCollector
from optimizer.core.schema import Strict, check_directed_pairs
from optimizer.registry import KINDS


def reachable_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """Every model class a document of ``model`` may contain, ``model`` included."""
    found: set[type[BaseModel]] = set()
    todo: list[typing.Any] = [model]
    while todo:
        tp = todo.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in found:
                continue
            found.add(tp)
            todo += [f.annotation for f in tp.model_fields.values()]
        else:
            todo += typing.get_args(tp)
    return found


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_part_of_every_kind_is_strict(kind):
    models = reachable_models(KINDS[kind].instance_model)
    assert len(models) > 3
    for model in models - {KINDS[kind].instance_model, Options}:
        assert issubclass(model, Strict), model
    for model in models:
        assert model.model_config.get("extra") == "forbid", model
    assert issubclass(KINDS[kind].instance_model, InstanceBase)


class Leg(Strict):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from")
    to: str


def test_directed_pairs_are_checked_alike_in_every_kind():
    legs = [
        Leg.model_validate(x)
        for x in [
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},  # the other direction: its own entry
            {"from": "a", "to": "a"},
            {"from": "a", "to": "b"},
            {"from": "a", "to": "q"},
            {"from": "q", "to": "b"},
            {"from": "q", "to": "b"},  # repeats an unknown end: that is reported once, above
        ]
    ]
    check = IssueCollector()
    check_directed_pairs(check, legs, "legs", {"a", "b"}, "site", "duplicate_leg")
    assert [(i.code, i.path) for i in check.issues] == [
        ("self_pair", "legs[2]"),
        ("duplicate_leg", "legs[3]"),
        ("unknown_reference", "legs[4].to"),
        ("unknown_reference", "legs[5].from"),
        ("unknown_reference", "legs[6].from"),
    ]
    assert check.issues[1].detail == "legs[3] goes from 'a' to 'b' again, as legs[0] does"
