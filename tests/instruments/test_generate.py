"""The seeded week generator is deterministic, and the example week is exactly what it writes."""

from __future__ import annotations

import json
from pathlib import Path

from optimizer.instruments.generate import example_week, week_document

EXAMPLES = Path(__file__).resolve().parents[2] / "instances" / "instruments"


def test_example_week_file_matches_its_generator() -> None:
    shipped = json.loads((EXAMPLES / "chengdu-chongqing-week.json").read_text())
    assert shipped == json.loads(json.dumps(example_week()))
    assert len(shipped["requests"]) == 150
    assert len(shipped["instruments"]) == 12
    assert len(shipped["operators"]) == 8


def test_same_seed_same_week_other_seed_another() -> None:
    assert week_document(30, 6, 4, seed=5) == week_document(30, 6, 4, seed=5)
    assert week_document(30, 6, 4, seed=5) != week_document(30, 6, 4, seed=6)
