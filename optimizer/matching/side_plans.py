"""Solves around pairs mode's side rules: whether blossom's plan already meets them, what
each family of rules costs against the plan without it, and why no plan meets them.

The orchestration's own solve is passed in (:data:`PairsSolve`), so that this module never
imports the orchestration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from optimizer.core.envelope import Explanation, Status
from optimizer.core.runner import SolveContext
from optimizer.matching import stability
from optimizer.matching.pairs import PairsResult
from optimizer.matching.schema import Fairness, MatchingInstance
from optimizer.matching.scores import Candidates
from optimizer.matching.side import has_side_rules, members

PairsSolve = Callable[[MatchingInstance, Candidates, SolveContext], PairsResult]
"""The orchestration's solve of pairs mode (backend choice, keep bonus), passed in so that
this module never imports the orchestration."""


FRESH: dict[str, Any] = {"previous": None, "existing": []}
"""No plan to keep: the extra solves compare total scores alone."""


def _without(instance: MatchingInstance, *families: str) -> MatchingInstance:
    """The instance with these families of side rules (``fairness``, ``stability``) lifted,
    and no previous plan or existing partnerships: only the score counts."""
    update: dict[str, Any] = dict(FRESH)
    if "fairness" in families:
        update["fairness"] = Fairness()
    if "stability" in families:
        update["stability"] = "report"
    return instance.model_copy(update=update)


def relaxation_certifies(instance: MatchingInstance) -> bool:
    """Whether a plan that is optimal without the side rules and meets them is optimal with
    them: true when they only restrict the plans (minimums, require) and change nothing of
    the objective (not max_min, not penalise)."""
    return instance.fairness.objective == "max_total" and instance.stability != "penalise"


def meets_side_rules(instance: MatchingInstance, cands: Candidates, selected: list[int]) -> bool:
    """Whether the selected pairs meet every fairness minimum and, under require, leave no
    blocking pair."""
    matched: set[int] = set()
    for k in selected:
        matched |= {int(cands.a[k]), int(cands.b[k])}
    for rule in instance.fairness.minimums:
        group = set(members(instance, rule.by, rule.group))
        got = len(group & matched)
        touching = sum(1 for k in selected if {int(cands.a[k]), int(cands.b[k])} & group)
        least = max(rule.matched, math.ceil(rule.share * len(group) - 1e-9))
        if got < least or touching < rule.pairs:
            return False
    if instance.stability == "require":
        return not stability.blocking_pairs(instance, _plan(cands, selected), cands)
    return True


def price_of_rules(
    instance: MatchingInstance,
    cands: Candidates,
    context: SolveContext,
    solve: Callable[[MatchingInstance, Candidates, SolveContext], Any],
    total: float,
    value: Callable[[Any], float] | None = None,
    plans: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the side rules cost: for the rules together (``all``) and, when both families
    are set, for each alone, the best total score without them (one extra solve each), and
    the price: that total minus this plan's. ``exact`` when that solve proved optimality.
    ``value`` reads a plan's total score off ``solve``'s answer (default: the selected
    candidate pairs' scores, pairs mode). ``plans``, when given, receives each variant's
    answer by label, for the reasons that compare with it (:func:`unmatched_notes`)."""
    families = [
        name
        for name, on in (
            ("fairness", instance.fairness.active),
            ("stability", instance.stability != "report"),
        )
        if on
    ]
    variants = {"all": families} | ({f: [f] for f in families} if len(families) > 1 else {})
    out: dict[str, Any] = {}
    for label, lifted in variants.items():
        result = solve(_without(instance, *lifted), cands, context)
        if plans is not None:
            plans[label] = result
        if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
            out[label] = {"total_without": None, "price": None, "exact": False}
            continue
        best = value(result) if value else float(cands.score[result.selected].sum())
        out[label] = {
            "total_without": best,
            "price": best - total,
            "exact": result.status == Status.OPTIMAL,
        }
    return out


def infeasibility(
    instance: MatchingInstance,
    cands: Candidates,
    context: SolveContext,
    solve: Callable[[MatchingInstance, Candidates, SolveContext], Any],
) -> list[Explanation]:
    """Which side rule makes a proven-infeasible instance so: ``no_stable_plan`` (with the
    fewest blocking pairs any plan under the other rules has), or the fairness minimums
    (``fairness_minimum_unreachable`` for one that no plan meets on its own,
    ``fairness_conflict`` for those that cannot hold together). Empty when the instance is
    infeasible without its side rules too. ``solve`` may be either mode's: only the status
    of its answers is read (and the pairs of the plan with the fewest blocking pairs,
    which only pairs mode has)."""
    if not has_side_rules(instance):
        return []
    plain = solve(_without(instance, "fairness", "stability"), cands, context)
    if plain.status == Status.INFEASIBLE:
        return []
    subject = instance.name or "instance"
    if instance.stability == "require":
        # A penalty above any total score: the fewest blocking pairs first.
        heavy = 1.0 + float(abs(cands.score).sum())
        fewest = solve(
            instance.model_copy(
                update={"stability": "penalise", "stability_penalty": heavy, **FRESH}
            ),
            cands,
            context,
        )
        if fewest.status in (Status.OPTIMAL, Status.FEASIBLE):
            plan = _plan(cands, fewest.selected)
            found = stability.blocking_pairs(instance, plan, cands)
            shown = ", ".join(f"{p.a}–{p.b}" for p in found[:5])
            least = "the fewest" if fewest.status == Status.OPTIMAL else "the fewest found"
            return [
                Explanation(
                    subject=subject,
                    code="no_stable_plan",
                    detail=(
                        "no plan under the rules is free of blocking pairs (stability "
                        f"require): {least} any plan has is {len(found)} ({shown}); "
                        "stability = penalise trades them against the score"
                    ),
                    related=sorted({x for p in found[:5] for x in (p.a, p.b)}),
                )
            ]
    out = []
    for k, rule in enumerate(instance.fairness.minimums):
        alone = instance.model_copy(
            update={
                "fairness": Fairness(minimums=[rule]),
                "stability": "report",
                **FRESH,
            }
        )
        if solve(alone, cands, context).status == Status.INFEASIBLE:
            out.append(
                Explanation(
                    subject=rule.group,
                    code="fairness_minimum_unreachable",
                    detail=(
                        f"fairness.minimums[{k}] ({rule.by} {rule.group}: {rule.matched} "
                        f"matched, share {rule.share:g}, {rule.pairs} pairs) cannot be met by "
                        "any plan under capacities, candidate rules and required pairs"
                    ),
                )
            )
    if not out and instance.fairness.minimums:
        groups = ", ".join(f"{m.by} {m.group}" for m in instance.fairness.minimums)
        out.append(
            Explanation(
                subject=subject,
                code="fairness_conflict",
                detail=(
                    f"each fairness minimum can be met alone, but not all together ({groups})"
                    + (" with no blocking pair" if instance.stability == "require" else "")
                ),
            )
        )
    return out


def _plan(cands: Candidates, selected: list[int]) -> dict[str, Any]:
    ids = cands.ids
    return {
        "pairs": [
            {"a": ids[int(cands.a[k])], "b": ids[int(cands.b[k])], "score": float(cands.score[k])}
            for k in selected
        ]
    }


def describe_rules(instance: MatchingInstance, families: list[str]) -> str:
    """The side rules of these families in words: 'the fairness rules (minimums for region
    Sichuan; max_min by region)', 'stability require'."""
    words = []
    if "fairness" in families:
        fairness = instance.fairness
        parts = [f"minimums for {m.by} {m.group}" for m in fairness.minimums[:3]]
        if len(fairness.minimums) > 3:
            parts[-1] += f" and {len(fairness.minimums) - 3} more"
        if fairness.objective == "max_min":
            parts.append(f"max_min by {fairness.by}")
        words.append(f"the fairness rules ({'; '.join(parts)})")
    if "stability" in families:
        words.append(f"stability {instance.stability}")
    return " and ".join(words)


def unmatched_notes(
    instance: MatchingInstance, cands: Candidates, plans: dict[str, Any]
) -> dict[str, str]:
    """For each institution, whether the plan without the side rules (the variants of
    :func:`price_of_rules`, pairs or groups) would pair or group it: then the rule whose
    lifting does is named, else the rules are cleared of leaving it out."""
    families: list[str] = []
    if instance.fairness.active:
        families.append("fairness")
    if instance.stability != "report":
        families.append("stability")
    partners: dict[str, dict[str, list[str]]] = {}
    proven: dict[str, bool] = {}
    for label, result in plans.items():
        if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
            continue
        proven[label] = result.status == Status.OPTIMAL
        found: dict[str, list[str]] = {}
        if instance.mode == "groups":
            for group in result.groups:
                for i in group:
                    found[cands.ids[i]] = [cands.ids[j] for j in group if j != i]
        for k in [] if instance.mode == "groups" else result.selected:
            a, b = cands.ids[int(cands.a[k])], cands.ids[int(cands.b[k])]
            found.setdefault(a, []).append(b)
            found.setdefault(b, []).append(a)
        partners[label] = found
    if "all" not in partners:
        return {}
    every = describe_rules(instance, families)
    verb, alone = ("groups", "ungrouped") if instance.mode == "groups" else ("pairs", "unmatched")
    notes = {}
    for x in cands.ids:
        # The one family whose lifting pairs x names the rule; else all of them together.
        lifting = [f for f in families if f in partners and x in partners[f]]
        label = lifting[0] if len(lifting) == 1 and len(families) > 1 else "all"
        plan = "the best plan" if proven[label] else "a plan found"
        if x in partners[label]:
            rules = describe_rules(instance, [label] if label != "all" else families)
            whom = ", ".join(partners[label][x][:3])
            notes[x] = f"; {plan} without {rules} {verb} {x} with {whom}: those rules leave it out"
        else:
            notes[x] = f"; {plan} without {every} leaves {x} {alone} too: they are not why"
    return notes


PLAN_REASONS = frozenset(
    {"not_selected", "partners_taken", "groups_better_without", "no_viable_group"}
)
"""Reasons that depend on the plan chosen, which the side rules shape; the others (no
candidate, capacity 0, no feasible group, no gain) hold for every plan."""


def with_rule_notes(reasons: list[Explanation], notes: dict[str, str]) -> list[Explanation]:
    """The reasons, those that depend on the plan ended by their institution's note."""
    return [
        r.model_copy(update={"detail": r.detail + notes[r.subject]})
        if r.code in PLAN_REASONS and r.subject in notes
        else r
        for r in reasons
    ]
