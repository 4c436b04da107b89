"""What every kind's instance schema is built from: strict models, ids, shared checks.

Each kind's ``schema.py`` declares its documents with these, so that every level of every
document rejects unknown fields, every id is a non-empty string, and the checks kinds
have in common read and report alike.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from optimizer.core.issues import IssueCollector

Id = Annotated[str, Field(min_length=1)]
"""An id, or a reference to one: a non-empty string."""

IdPair = tuple[Id, Id]
"""An unordered pair of ids, written ``[a, b]``."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A number that is neither NaN nor infinite."""


class Strict(BaseModel):
    """A part of a document: a field it does not define is an ``unknown_field`` issue."""

    model_config = ConfigDict(extra="forbid")


class DirectedPair(Protocol):
    """An entry that goes from one id to another (a travel time, a shipping route)."""

    @property
    def from_(self) -> str: ...

    @property
    def to(self) -> str: ...


def check_directed_pairs(
    check: IssueCollector,
    entries: Sequence[DirectedPair],
    list_path: str,
    known: Collection[str],
    what: str,
    duplicate_code: str,
) -> None:
    """Hard: each entry goes between two defined, distinct ids, and gives its direction once.

    Issues: ``unknown_reference`` at ``.from`` / ``.to``, ``self_pair`` at the entry, and
    ``duplicate_code`` at the entry that repeats a direction.
    """
    first: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        path = f"{list_path}[{i}]"
        known_ends = check.reference(entry.from_, known, f"{path}.from", what)
        known_ends &= check.reference(entry.to, known, f"{path}.to", what)
        if entry.from_ == entry.to:
            check.add("self_pair", path, f"{path} goes from {entry.from_!r} to itself")
        elif known_ends:
            key = (entry.from_, entry.to)
            if key in first:
                check.add(
                    duplicate_code,
                    path,
                    f"{path} goes from {entry.from_!r} to {entry.to!r} again, "
                    f"as {list_path}[{first[key]}] does",
                )
            first.setdefault(key, i)
