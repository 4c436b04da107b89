"""Blocking pairs of a pairs-mode plan, from preferences read off the scores (contract 5.4).

Each institution prefers partners by score. Against a plan, institution *i* would rather
pair with *j* when the candidate pair {i, j} scores more than *i*'s worst use of a slot:
a free slot (fewer partners than ``capacity``) counts 0, otherwise the lowest-scoring partner
it may drop (a ``required`` pair may not be dropped; with only required partners *i* has
nothing to give up). A *blocking pair* is a candidate pair, not selected, with a positive
score, that both sides would rather have: each side's *gain* is the pair's score minus that
side's worst use of a slot. Ties do not block.

A pure function of the instance and the plan: the KPIs, the explanations and the tests use
it; the verifier counts the same pairs its own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optimizer.core.envelope import Explanation
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates, build_candidates

WORST_SHOWN = 5
"""Blocking pairs listed in the KPIs and explained, worst (largest smaller gain) first."""


@dataclass(frozen=True)
class BlockingPair:
    a: str
    b: str
    score: float
    gain_a: float
    gain_b: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "score": self.score,
            "gain_a": self.gain_a,
            "gain_b": self.gain_b,
        }


def worst_slots(instance: MatchingInstance, pairs: list[dict[str, Any]]) -> dict[str, float]:
    """Each institution's worst use of a slot in the plan: 0 for a free slot, else its
    lowest-scoring partner it may drop; +inf when it has nothing it may give up."""
    required = {frozenset(p) for p in instance.rules.required}
    degree: dict[str, int] = {}
    droppable: dict[str, list[float]] = {}
    for p in pairs:
        for end in (p["a"], p["b"]):
            degree[end] = degree.get(end, 0) + 1
            if frozenset((p["a"], p["b"])) not in required:
                droppable.setdefault(end, []).append(float(p["score"]))
    worst: dict[str, float] = {}
    for inst in instance.institutions:
        if degree.get(inst.id, 0) < inst.capacity:
            worst[inst.id] = 0.0
        elif droppable.get(inst.id):
            worst[inst.id] = min(droppable[inst.id])
        else:
            worst[inst.id] = math.inf
    return worst


def blocking_pairs(
    instance: MatchingInstance, plan: dict[str, Any], cands: Candidates | None = None
) -> list[BlockingPair]:
    """Every blocking pair of ``plan`` (a pairs-mode solution payload), worst first."""
    if cands is None:
        cands = build_candidates(instance)
    ids = cands.ids
    pairs = plan["pairs"]
    worst = worst_slots(instance, pairs)
    chosen = {frozenset((p["a"], p["b"])) for p in pairs}
    found = []
    for i, j, score in zip(cands.a.tolist(), cands.b.tolist(), cands.score.tolist(), strict=True):
        a, b = ids[i], ids[j]
        if score <= 0 or score <= worst[a] or score <= worst[b]:
            continue
        if frozenset((a, b)) in chosen:
            continue
        found.append(BlockingPair(a, b, score, score - worst[a], score - worst[b]))
    found.sort(key=lambda p: (-min(p.gain_a, p.gain_b), -p.score, p.a, p.b))
    return found


def kpis(instance: MatchingInstance, plan: dict[str, Any]) -> dict[str, Any]:
    """``blocking_pairs`` (count) and ``worst_blocking_pairs`` (the first few, with gains)."""
    found = blocking_pairs(instance, plan)
    return {
        "blocking_pairs": len(found),
        "worst_blocking_pairs": [p.as_dict() for p in found[:WORST_SHOWN]],
    }


def explanations(instance: MatchingInstance, plan: dict[str, Any]) -> list[Explanation]:
    """One ``blocking_pair`` reason for each of the worst blocking pairs, and a count of
    the rest."""
    found = blocking_pairs(instance, plan)
    out = [
        Explanation(
            subject=f"{p.a}–{p.b}",
            code="blocking_pair",
            detail=(
                f"{p.a} and {p.b} would both rather pair with each other (score {p.score:.3f}): "
                f"{p.a} gains {p.gain_a:.3f} and {p.b} gains {p.gain_b:.3f} over the partner "
                "or free slot they would give up"
            ),
            related=[p.a, p.b],
        )
        for p in found[:WORST_SHOWN]
    ]
    if len(found) > WORST_SHOWN:
        out.append(
            Explanation(
                subject=instance.name or "instance",
                code="blocking_pairs",
                detail=f"{len(found)} blocking pairs in all; the {WORST_SHOWN} worst are listed",
            )
        )
    return out
