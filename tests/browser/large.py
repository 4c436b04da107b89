"""The large plans the page must draw without freezing: a 1,000-request instruments week and
a 20,000-request loans batch, solved by the kinds' fast baselines (first-come-first-served
booking, ranked lenders) so that the page, not the solver, is what takes the time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimizer.instruments.generate import week_document
from optimizer.loans.generate import loans_document

SEED = 1


def large_week() -> dict[str, Any]:
    # The benchmark's shape for 1,000 requests (benchmarks/instruments.py, WEEK_SHAPES).
    doc = week_document(1000, 40, 20, seed=SEED)
    doc["name"] = "week-1000-requests"
    doc["options"] = {"solver": "greedy", "time_limit_s": 60}
    return doc


def large_loans() -> dict[str, Any]:
    doc = loans_document(20_000, seed=SEED, name="loans-20000-requests")
    doc["options"] = {"solver": "rota", "time_limit_s": 120}
    return doc


def write(doc: dict[str, Any], folder: Path) -> Path:
    path = folder / f"{doc['name']}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
