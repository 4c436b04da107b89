"""What every kind's instance schema is built from: strict models and ids.

Each kind's ``schema.py`` declares its documents with these, so that every level of every
document rejects unknown fields and every id is a non-empty string, in one place.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1)]
"""An id, or a reference to one: a non-empty string."""

IdPair = tuple[Id, Id]
"""An unordered pair of ids, written ``[a, b]``."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A number that is neither NaN nor infinite."""


class Strict(BaseModel):
    """A part of a document: a field it does not define is an ``unknown_field`` issue."""

    model_config = ConfigDict(extra="forbid")
