"""Shared test configuration.

Solver tests run on a small machine shared with other work, so every solve in the suite uses
one thread and a short time limit (see ``tests/matching/helpers.py``), and every random
generator is seeded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
