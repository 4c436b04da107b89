"""The matching plan as rows: one per pair and one per unmatched institution, or one per
group member and one per ungrouped institution; names and regions come from the instance."""

from __future__ import annotations

from typing import Any

from optimizer.core.plans import Table

BREAKDOWN = ("need", "complementarity", "distance", "bonus")


def table(solution: dict[str, Any], instance: dict[str, Any] | None) -> Table:
    """Rows of the pairs (with ``unmatched``) or of the groups (with ``ungrouped``)."""
    body = solution.get("solution") or {}
    institutions = {x["id"]: x for x in (instance or {}).get("institutions", [])}
    if "groups" in body:
        return _groups(body, institutions)
    return _pairs(body, institutions)


def _who(iid: str, institutions: dict[str, dict[str, Any]]) -> list[Any]:
    inst = institutions.get(iid, {})
    return [iid, inst.get("name"), inst.get("region")]


def _pairs(body: dict[str, Any], institutions: dict[str, dict[str, Any]]) -> Table:
    columns = ["status", "a", "a_name", "a_region", "b", "b_name", "b_region", "score"]
    # A multi-year plan (contract 5.4.4) says each pair's period in a last column; a
    # one-period plan's rows are as they were.
    by_period = any("period" in pair for pair in body.get("pairs", []))
    out = Table([*columns, *BREAKDOWN, *(["period"] if by_period else [])])
    for pair in body.get("pairs", []):
        terms = pair.get("breakdown") or {}
        out.rows.append(
            [
                "paired",
                *_who(pair["a"], institutions),
                *_who(pair["b"], institutions),
                pair["score"],
                *(terms.get(t) for t in BREAKDOWN),
                *([pair.get("period")] if by_period else []),
            ]
        )
    blank = [None] * (4 + len(BREAKDOWN) + int(by_period))
    for iid in body.get("unmatched", []):
        out.rows.append(["unmatched", *_who(iid, institutions), *blank])
    return out


def _groups(body: dict[str, Any], institutions: dict[str, dict[str, Any]]) -> Table:
    out = Table(["status", "group", "group_score", "institution", "name", "region"])
    for group in body.get("groups", []):
        for member in group["members"]:
            out.rows.append(["grouped", group["id"], group["score"], *_who(member, institutions)])
    for iid in body.get("ungrouped", []):
        out.rows.append(["ungrouped", None, None, *_who(iid, institutions)])
    return out
