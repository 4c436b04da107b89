"""A plan as data: its items, compared between two plans (kept, moved, dropped, added), and
its rows and dated events for the exports.

A kind names its plan's items with its ``items`` hook: a key per item (a booking of a
request's step, a pair, a loan of a request) and what the item is (where and when it runs,
which copy ships when). Two plans then compare the same way for every kind: a key in both
with the same value is kept, with another value moved; a key only before is dropped, only
after added. Re-planning reports its changes this way, and scenarios their differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PlanItems = dict[str, Any]
"""Item key -> what the item is (any JSON value); a kind's ``items`` hook returns these."""


class MovedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str
    before: Any
    after: Any
    reason: str | None = None


class ItemChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str
    value: Any
    reason: str | None = None


class PlanDiff(BaseModel):
    """How a plan differs from an earlier or a base plan (contract 3.7)."""

    model_config = ConfigDict(extra="forbid")

    kept: int = 0
    moved: int = 0
    dropped: int = 0
    added: int = 0
    moved_items: list[MovedItem] = Field(default_factory=list)
    dropped_items: list[ItemChange] = Field(default_factory=list)
    added_items: list[ItemChange] = Field(default_factory=list)
    kept_items: list[str] = Field(default_factory=list)

    @property
    def changed(self) -> int:
        """Items that are not as they were: moved or dropped."""
        return self.moved + self.dropped


def diff_plans(before: PlanItems, after: PlanItems) -> PlanDiff:
    """Item by item, in key order."""
    kept: list[str] = []
    moved: list[MovedItem] = []
    dropped: list[ItemChange] = []
    for key in sorted(before):
        if key not in after:
            dropped.append(ItemChange(item=key, value=before[key]))
        elif after[key] == before[key]:
            kept.append(key)
        else:
            moved.append(MovedItem(item=key, before=before[key], after=after[key]))
    added = [ItemChange(item=key, value=after[key]) for key in sorted(after) if key not in before]
    return PlanDiff(
        kept=len(kept),
        moved=len(moved),
        dropped=len(dropped),
        added=len(added),
        moved_items=moved,
        dropped_items=dropped,
        added_items=added,
        kept_items=kept,
    )


# The plan as rows and as dated events: what a kind's ``table`` and ``calendar`` hooks give
# the exports (``optimizer/core/exports.py``).


@dataclass
class Table:
    """The items of a plan as rows: one row per item, its values in ``columns`` order.

    ``status`` is always the first column: what happened to the item (``paired``,
    ``booked``, ``lent``…, or ``unmatched``, ``unscheduled``, ``unfilled`` for what the plan
    leaves out), so that every item of the solution payload is exactly one row.
    """

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class CalendarEvent:
    """One dated item of a plan; ``facets`` are what a calendar may be filtered by
    (``{"instrument": "cryoem-1", "institution": "scu"}``)."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str = ""
    facets: dict[str, str] = field(default_factory=dict)
