"""A matching plan as items: each pair, or each institution's place in a consortium."""

from __future__ import annotations

from typing import Any

from optimizer.core.plans import PlanItems


def pair_key(a: str, b: str) -> str:
    return "+".join(sorted((a, b)))


def items(payload: dict[str, Any]) -> PlanItems:
    """Pairs mode: one item per pair (key ``a+b``, ids sorted; ``a+b@t`` in period t). Groups mode: one item per
    grouped institution, whose value is the other members of its group (so joining or
    leaving a group moves everyone in it)."""
    if "groups" in payload:
        return {
            member: sorted(m for m in group["members"] if m != member)
            for group in payload["groups"]
            for member in group["members"]
        }
    return {_period_key(p): True for p in payload["pairs"]}


def _period_key(pair: dict[str, Any]) -> str:
    """``a+b``, and ``a+b@t`` for a pair of period t of a multi-year plan: the same pair in
    two periods is two items."""
    key = pair_key(pair["a"], pair["b"])
    return key if "period" not in pair else f"{key}@{pair['period']}"
