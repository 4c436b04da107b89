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


def slot_groups_document(n: int, seed: int, *, time_limit_s: float, name: str) -> dict[str, Any]:
    """Consortia of up to 8 among ``n`` institutions, about half the pairs scored: too many
    candidate groups to list, so CP-SAT's slot model runs (one thread, seeded). At 30
    institutions it finds plans within seconds and cannot close the gap for long; at 12 it
    proves the optimum after about 0.7 CPU-seconds."""
    rng = random.Random(seed)
    ids = [f"u{i:02d}" for i in range(n)]
    scores = [
        {"a": a, "b": b, "score": round(rng.uniform(0.1, 1.0), 3)}
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
        if rng.random() < 0.5
    ]
    return {
        "kind": "matching",
        "name": name,
        "mode": "groups",
        "institutions": [{"id": x} for x in ids],
        "scores": scores,
        "group": {"min_size": 2, "max_size": 8},
        "options": {"time_limit_s": time_limit_s, "threads": 1, "seed": 3, "solver": "cp-sat"},
    }
