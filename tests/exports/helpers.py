"""Shipped examples and their solutions, for the export and spreadsheet tests."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.documents import solve_document

REPO_ROOT = Path(__file__).resolve().parents[2]
# Examples that take seconds to solve: their tests are marked slow.
LARGE = {
    "chengdu-chongqing-week",
    "chengdu-chongqing-facility-week",
    "western-consortium",
    "western-consortium-couriers",
}


def examples(kind: str | None = None) -> list[Any]:
    """One parameter per shipped example (optionally of one kind), the large ones slow."""
    pattern = f"{kind}/*.json" if kind else "*/*.json"
    return [
        pytest.param(
            path,
            id=f"{path.parent.name}/{path.stem}",
            marks=[pytest.mark.slow] if path.stem in LARGE else [],
        )
        for path in sorted((REPO_ROOT / "instances").glob(pattern))
    ]


def instance(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


@functools.cache
def _solved(path: Path) -> str:
    overrides = {"time_limit_s": 5.0, "threads": 1, "seed": 1}
    return solve_document(
        path.read_bytes(), overrides=overrides, default_name=path.stem
    ).model_dump_json()


def solution(path: Path) -> dict[str, Any]:
    """The example solved once per test run (a fresh copy each call)."""
    document = json.loads(_solved(path))
    assert document["status"] in ("optimal", "feasible"), document["status"]
    return dict(document)
