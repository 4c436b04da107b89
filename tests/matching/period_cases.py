"""A hand-written multi-year plan and the breaks of it that the verifier must name (contract
5.4.4); the mutation tests and the check that every verifier message is produced use them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .helpers import matching

Doc = dict[str, Any]

SCORES = {"a-b": 3.0, "c-d": 2.0, "a-c": 1.0, "b-d": 1.0}


def periods_doc(rule: str = "new_partner", **periods: Any) -> Doc:
    """Four institutions over three periods; d sits period 2 out under ``capacity``."""
    return matching(
        ["a", "b", "c", "d"],
        SCORES,
        periods={"count": 3, "rule": rule, "capacity": {"d": [1, 0, 1]}, **periods},
    )


# new_partner: each pair at most once; d has no partner in period 2.
NEW_PARTNER_PLAN: Doc = {
    "pairs": [
        {"a": "a", "b": "b", "score": 3.0, "period": 1},
        {"a": "c", "b": "d", "score": 2.0, "period": 1},
        {"a": "a", "b": "c", "score": 1.0, "period": 2},
        {"a": "b", "b": "d", "score": 1.0, "period": 3},
    ],
    "unmatched": [],
}
NEW_PARTNER_OBJECTIVE = 7.0

# keep (at least 2): a-b runs all three periods; c-d forms again in period 3, the last.
KEEP_PLAN: Doc = {
    "pairs": [
        {"a": "a", "b": "b", "score": 3.0, "period": 1},
        {"a": "a", "b": "b", "score": 3.0, "period": 2},
        {"a": "a", "b": "b", "score": 3.0, "period": 3},
        {"a": "c", "b": "d", "score": 2.0, "period": 3},
    ],
    "unmatched": [],
}
KEEP_OBJECTIVE = 11.0


def _moved(plan: Doc, index: int, **fields: Any) -> Doc:
    out = copy.deepcopy(plan)
    out["pairs"][index].update(fields)
    return out


def _with(plan: Doc, **fields: Any) -> Doc:
    return {**copy.deepcopy(plan), **fields}


Mutation = tuple[str, str, Doc, Callable[[Doc], Doc], str]
"""(name, rule, plan it breaks, the break, the violation it must produce)."""

MUTATIONS: list[Mutation] = [
    (
        "period-out-of-range",
        "new_partner",
        NEW_PARTNER_PLAN,
        lambda s: _moved(s, 3, period=4),
        "pair (b, d) has period 4, not one of 1..3",
    ),
    (
        "period-missing",
        "new_partner",
        NEW_PARTNER_PLAN,
        lambda s: _moved(s, 3, period=None),
        "pair (b, d) has period None, not one of 1..3",
    ),
    (
        "unmatched-overall-wrong",
        "new_partner",
        NEW_PARTNER_PLAN,
        lambda s: _with(s, unmatched=["d"]),
        "the unmatched list does not match the institutions in no pair of any period",
    ),
    (
        "period-capacity",
        "new_partner",
        NEW_PARTNER_PLAN,
        lambda s: _moved(s, 3, period=2),
        "period 2: d has 1 partners, above capacity 0",
    ),
    (
        "meets-again",
        "new_partner",
        NEW_PARTNER_PLAN,
        lambda s: _moved(s, 2, a="a", b="b", score=3.0),
        "pair (a, b) meets again in periods 1, 2 (rule new_partner)",
    ),
    (
        "kept-too-short",
        "keep",
        KEEP_PLAN,
        lambda s: {**_moved(s, 2, a="c", b="d", score=2.0, period=1)},
        "pair (c, d) is formed in period 1 and kept 1 periods, fewer than keep_at_least 2",
    ),
]
