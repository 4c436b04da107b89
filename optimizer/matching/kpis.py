"""Figures of a verified matching plan, read off the plan and the instance alone."""

from __future__ import annotations

from typing import Any

from optimizer.core.envelope import Explanation
from optimizer.core.plans import diff_plans
from optimizer.matching import stability
from optimizer.matching.plan import items
from optimizer.matching.replan import change_reasons
from optimizer.matching.schema import MatchingInstance

NO_REGION = "none"


def kpis(instance: MatchingInstance, payload: dict[str, Any]) -> dict[str, Any]:
    """Counts and means of the plan (contract 3.4 and the matching sections)."""
    n = len(instance.institutions)
    if "groups" in payload:
        groups = payload["groups"]
        sizes = [len(g["members"]) for g in groups]
        grouped = n - len(payload["ungrouped"])
        figures: dict[str, Any] = {
            "institutions": n,
            "groups": len(groups),
            "grouped_institutions": grouped,
            "ungrouped_institutions": len(payload["ungrouped"]),
            "mean_group_size": (sum(sizes) / len(sizes)) if sizes else 0.0,
        }
        together = [(set(g["members"]), g["score"]) for g in groups]
    else:
        pairs = payload["pairs"]
        figures = {
            "institutions": n,
            "pairs": len(pairs),
            "matched_institutions": n - len(payload["unmatched"]),
            "unmatched_institutions": len(payload["unmatched"]),
            "mean_pair_score": (sum(p["score"] for p in pairs) / len(pairs)) if pairs else 0.0,
            "pairs_by_zone": _pairs_by_zone(instance, pairs),
        }
        if instance.periods is None:
            figures |= stability.kpis(instance, payload)
        else:
            figures["periods"] = _per_period(instance, payload)
        together = [({p["a"], p["b"]}, p["score"]) for p in pairs]
    figures["by_region"] = _by_region(instance, together)
    if instance.fairness.active:
        figures["worst_off"] = _worst_off(instance, together)
    return figures


def _worst_off(
    instance: MatchingInstance, together: list[tuple[set[str], float]]
) -> dict[str, Any]:
    """The groups ``max_min`` compares (fairness.by, fairness.groups), each one's measure
    (matched share, or score per member), and the worst-off value and groups."""
    fairness = instance.fairness
    names = fairness.groups
    if names is None:
        names = sorted({getattr(x, fairness.by) for x in instance.institutions} - {None})
    measure: dict[str, float] = {}
    for name in names:
        members = {x.id for x in instance.institutions if getattr(x, fairness.by) == name}
        if not members:
            continue
        if fairness.measure == "share":
            value = len(members & set().union(*(m for m, _ in together))) / len(members)
        else:
            value = sum(score for m, score in together if m & members) / len(members)
        measure[name] = value
    worst = min(measure.values(), default=0.0)
    return {
        "by": fairness.by,
        "measure": fairness.measure,
        "value": worst,
        "groups": sorted(g for g, v in measure.items() if v <= worst + 1e-9),
        "per_group": measure,
    }


def _per_period(instance: MatchingInstance, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Pairs, matched and unmatched institutions (and which) and total score of each
    period (5.4.4)."""
    assert instance.periods is not None
    n = len(instance.institutions)
    out = []
    for t in range(1, instance.periods.count + 1):
        pairs = [p for p in payload["pairs"] if p.get("period") == t]
        matched = {x for p in pairs for x in (p["a"], p["b"])}
        out.append(
            {
                "period": t,
                "pairs": len(pairs),
                "matched_institutions": len(matched),
                "unmatched_institutions": n - len(matched),
                "total_score": sum(p["score"] for p in pairs),
                "unmatched": [x.id for x in instance.institutions if x.id not in matched],
            }
        )
    return out


def plan_reasons(instance: MatchingInstance, payload: dict[str, Any]) -> list[Explanation]:
    """Reasons read off a verified plan: each ``existing`` partnership it breaks and why,
    and its worst blocking pairs (pairs mode, one period)."""
    out = _broken_existing(instance, payload)
    if "pairs" in payload and instance.periods is None:
        out += stability.explanations(instance, payload)
    return out


def _broken_existing(instance: MatchingInstance, payload: dict[str, Any]) -> list[Explanation]:
    plan = instance.incumbent()
    if not instance.existing or plan is None:
        return []
    before = items(plan.model_dump(mode="json", exclude_none=True))
    changes = diff_plans(before, items(payload))
    reasons = change_reasons(instance, changes)
    default = "the new plan gains more than keeping it is worth (options.change_penalty)"
    given_up = [d.item for d in changes.dropped_items] + [m.item for m in changes.moved_items]
    return [
        Explanation(
            subject=item.replace("+", "–"),
            code="existing_broken",
            detail=f"the existing partnership {item.replace('+', '–')} is not kept: "
            + reasons.get(item, default),
            related=item.split("+"),
        )
        for item in given_up
    ]


def _pairs_by_zone(instance: MatchingInstance, pairs: list[dict[str, Any]]) -> dict[str, int]:
    zone = {x.id: x.zone for x in instance.institutions}
    by_zone: dict[str, int] = {}
    for p in pairs:
        za, zb = zone[p["a"]] or "none", zone[p["b"]] or "none"
        key = f"{min(za, zb)}–{max(za, zb)}"
        by_zone[key] = by_zone.get(key, 0) + 1
    return by_zone


def _by_region(
    instance: MatchingInstance, together: list[tuple[set[str], float]]
) -> dict[str, dict[str, Any]]:
    """Per region: its institutions, how many are matched, the pairs (or groups) with a
    member there and their mean score."""
    region = {x.id: x.region or NO_REGION for x in instance.institutions}
    out: dict[str, dict[str, Any]] = {}
    for name in region.values():
        out.setdefault(name, {"institutions": 0, "matched": 0, "together": 0, "scores": 0.0})
        out[name]["institutions"] += 1
    for iid in set().union(*(members for members, _ in together)):
        out[region[iid]]["matched"] += 1
    for members, score in together:
        for name in {region[i] for i in members}:
            out[name]["together"] += 1
            out[name]["scores"] += score
    return {
        name: {
            "institutions": row["institutions"],
            "matched": row["matched"],
            "share_matched": row["matched"] / row["institutions"],
            "pairs_or_groups": row["together"],
            "mean_score": row["scores"] / row["together"] if row["together"] else 0.0,
        }
        for name, row in sorted(out.items())
    }
