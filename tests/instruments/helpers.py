"""Instance builders for the instruments tests: small documents a planner could write."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Solution

# Tests run next to other work on a small machine: one thread, a short limit.
TEST_OPTIONS: dict[str, Any] = {"time_limit_s": 10, "threads": 1}

START = datetime.fromisoformat("2026-12-01T08:00:00+08:00")


def at(minute: int, start: datetime = START) -> str:
    """The ISO time ``minute`` minutes after 2026-12-01 08:00 +08:00."""
    return (start + timedelta(minutes=minute)).isoformat()


def base_document(**changes: Any) -> dict[str, Any]:
    """One day, two sites an hour apart, three instruments, one operator, no requests."""
    doc: dict[str, Any] = {
        "kind": "instruments",
        "name": "rules",
        "horizon": {"start": at(0), "end": at(1440)},
        "objective": "max_weighted_served",
        "sites": [
            {"id": "site-a", "institution": "scu"},
            {"id": "site-b", "institution": "cqu"},
        ],
        "travel": [{"from": "site-a", "to": "site-b", "minutes": 60}],
        "instruments": [
            {"id": "em-1", "type": "em", "site": "site-a"},
            {"id": "em-2", "type": "em", "site": "site-a"},
            {"id": "nmr-1", "type": "nmr", "site": "site-b"},
        ],
        "operators": [{"id": "op-1", "instruments": ["em-1", "em-2"]}],
        "requests": [],
    }
    doc.update(copy.deepcopy(changes))
    return doc


def request(rid: str, *steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "institution": fields.pop("institution", "scu"),
        "steps": list(steps),
        **fields,
    }


def step(instruments: list[str] | str, minutes: int, **fields: Any) -> dict[str, Any]:
    if isinstance(instruments, str):
        return {"instrument_type": instruments, "duration_minutes": minutes, **fields}
    return {"instruments": instruments, "duration_minutes": minutes, **fields}


def solve(doc: dict[str, Any], solver: str = "auto", **options: Any) -> Solution:
    return solve_document(doc, overrides={**TEST_OPTIONS, "solver": solver, **options})
