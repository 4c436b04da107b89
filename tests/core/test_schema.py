"""The one base every kind's schema is built from."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from optimizer.core.envelope import InstanceBase, Options
from optimizer.core.schema import Strict
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
