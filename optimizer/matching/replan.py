"""Re-planning a matching against ``previous`` (or the ``existing`` partnerships, which are
kept the same way): what keeping an earlier pair or group is worth.

Each pair of the previous plan that is broken costs ``change_penalty`` (pairs mode), and so
does each institution whose group is not the one it had (groups mode). Keeping is therefore
worth the penalty: the model adds it to the score of each previous pair, or to a previous
group's column once per member, and takes the constant cost of breaking everything off
the bound, so the model optimises exactly score − penalty × changes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from optimizer.core.plans import PlanDiff
from optimizer.matching.groups import ColumnSet
from optimizer.matching.plan import pair_key
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates, build_candidates


def pairs_with_keep_bonus(
    instance: MatchingInstance, cands: Candidates, penalty: float
) -> tuple[Candidates, float]:
    """Candidates whose score counts the penalty a previous pair's keeping saves, and the
    cost of breaking every previous pair (to take off the bound)."""
    plan = instance.incumbent()
    if plan is None or plan.pairs is None:
        return cands, 0.0
    index = {x: i for i, x in enumerate(cands.ids)}
    bonus = np.zeros(len(cands))
    for pair in plan.pairs:
        if pair.a in index and pair.b in index:
            k = cands.index(index[pair.a], index[pair.b])
            if k is not None:
                bonus[k] = penalty
    return dataclasses.replace(cands, score=cands.score + bonus), penalty * len(plan.pairs)


def columns_with_keep_bonus(
    instance: MatchingInstance, cands: Candidates, columns: ColumnSet, penalty: float
) -> tuple[ColumnSet, float]:
    """Columns whose score counts the penalty each member saves when the column is exactly a
    previous group, and the cost of every previously grouped institution changing."""
    plan = instance.incumbent()
    if plan is None or plan.groups is None:
        return columns, 0.0
    index = {x: i for i, x in enumerate(cands.ids)}
    previous = {
        tuple(sorted(index[m] for m in g.members))
        for g in plan.groups
        if all(m in index for m in g.members)
    }
    bonus = np.zeros(len(columns))
    for c, row in enumerate(columns.members):
        members = tuple(sorted(int(i) for i in row if i >= 0))
        if members in previous:
            bonus[c] = penalty * len(members)
    grouped = sum(len(g.members) for g in plan.groups)
    return ColumnSet(columns.members, columns.score + bonus), penalty * grouped


def change_reasons(instance: MatchingInstance, changes: PlanDiff) -> dict[str, str]:
    """Why a previous pair or group membership was given up, where the new instance forces
    it: an institution gone, or a pair no longer a candidate under the rules."""
    ids = {x.id for x in instance.institutions}
    candidates: set[str] = set()
    if instance.mode == "pairs" and changes.dropped:
        cands = build_candidates(instance)
        candidates = {
            pair_key(cands.ids[a], cands.ids[b])
            for a, b in zip(cands.a.tolist(), cands.b.tolist(), strict=True)
        }
    given_up = [(d.item, d.value) for d in changes.dropped_items]
    given_up += [(m.item, m.before) for m in changes.moved_items]
    capacity = {x.id: x.capacity for x in instance.institutions}
    had: dict[str, int] = {}
    plan = instance.incumbent()
    for pair in (plan.pairs or []) if plan else []:
        for end in (pair.a, pair.b):
            had[end] = had.get(end, 0) + 1
    reasons: dict[str, str] = {}
    for item, before in given_up:
        # A pair's key names both ends; a membership's value names the other members.
        named = item.split("+") if instance.mode == "pairs" else [item, *before]
        gone = [x for x in named if x not in ids]
        shrunk = [x for x in named if x in ids and had.get(x, 0) > capacity[x]]
        if gone:
            reasons[item] = f"{', '.join(gone)} is no longer in the instance"
        elif instance.mode == "pairs" and item not in candidates:
            reasons[item] = "the pair is no longer a candidate under the rules"
        elif instance.mode == "pairs" and shrunk:
            reasons[item] = "; ".join(
                f"{x}'s capacity is now {capacity[x]}, below the {had[x]} pairs it had"
                for x in shrunk
            )
    return reasons
