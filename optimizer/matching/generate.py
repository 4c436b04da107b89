"""Seeded matching instances of any size: pairs and groups, with explicit random scores.

Used by ``benchmarks/matching.py``.
"""

from __future__ import annotations

import random
from typing import Any


def pairs_document(
    n: int, k: int = 10, seed: int = 0, capacity: int = 1, regions: int = 0
) -> dict[str, Any]:
    """n institutions, about k candidate partners each, explicit scores in (0, 1]; with
    ``regions``, institution i lies in region ``r<i mod regions>``."""
    rng = random.Random(seed)
    ids = [f"u{i:05d}" for i in range(n)]
    pairs: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in rng.sample(range(n), min(n - 1, k // 2 + 1)):
            if i != j:
                key = (min(i, j), max(i, j))
                pairs.setdefault(key, round(rng.uniform(0.01, 1.0), 4))
    institutions: list[dict[str, Any]] = [{"id": x, "capacity": capacity} for x in ids]
    for i, institution in enumerate(institutions):
        if regions:
            institution["region"] = f"r{i % regions:02d}"
    return {
        "kind": "matching",
        "name": f"pairs-n{n}-k{k}-s{seed}",
        "mode": "pairs",
        "institutions": institutions,
        "scores": [{"a": ids[i], "b": ids[j], "score": s} for (i, j), s in sorted(pairs.items())],
    }


def groups_document(n: int, seed: int = 0, min_size: int = 3, max_size: int = 5) -> dict[str, Any]:
    """n institutions with a complete random score graph, to be split into alliances."""
    rng = random.Random(seed)
    ids = [f"u{i:03d}" for i in range(n)]
    scores = [
        {"a": ids[i], "b": ids[j], "score": round(rng.uniform(0.01, 1.0), 4)}
        for i in range(n)
        for j in range(i + 1, n)
    ]
    return {
        "kind": "matching",
        "name": f"groups-n{n}-s{seed}",
        "mode": "groups",
        "institutions": [{"id": x} for x in ids],
        "scores": scores,
        "group": {"min_size": min_size, "max_size": max_size},
    }
