"""The matching part of ``unishare show``: pairs or consortia with names and provinces, and
how each province fares."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

NO_REGION = "(no region)"


def render(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[RenderableType]:
    """Pairs or groups; with the instance, each institution's name and region, and a table
    of matched institutions per region."""
    body = solution.get("solution") or {}
    institutions = {x["id"]: x for x in (instance or {}).get("institutions", [])}
    parts: list[RenderableType] = []
    if "pairs" in body:
        parts += _pairs(body, institutions)
    if "groups" in body:
        parts += _groups(body, institutions)
    if institutions:
        parts.append(_regions(body, institutions))
    return parts


def _who(iid: str, institutions: dict[str, dict[str, Any]]) -> str:
    """'scu · Sichuan University (Sichuan)', or the id alone without the instance."""
    inst = institutions.get(iid)
    if inst is None:
        return iid
    text = f"{iid} · {inst['name']}" if inst.get("name") else iid
    return f"{text} ({inst['region']})" if inst.get("region") else text


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column == "score" else "left")
    return table


def _pairs(body: dict[str, Any], institutions: dict[str, dict[str, Any]]) -> list[RenderableType]:
    table = _table("pairs", ("a", "b", "score"))
    for pair in body["pairs"]:
        table.add_row(
            _who(pair["a"], institutions), _who(pair["b"], institutions), f"{pair['score']:.4f}"
        )
    parts: list[RenderableType] = [table]
    if body.get("unmatched"):
        unmatched = ", ".join(_who(i, institutions) for i in body["unmatched"])
        parts.append(Text(f"unmatched: {unmatched}"))
    return parts


def _groups(body: dict[str, Any], institutions: dict[str, dict[str, Any]]) -> list[RenderableType]:
    table = _table("groups", ("group", "members", "score"))
    for group in body["groups"]:
        members = "\n".join(_who(m, institutions) for m in group["members"])
        table.add_row(group["id"], members, f"{group['score']:.4f}")
    parts: list[RenderableType] = [table]
    if body.get("ungrouped"):
        ungrouped = ", ".join(_who(i, institutions) for i in body["ungrouped"])
        parts.append(Text(f"ungrouped: {ungrouped}"))
    return parts


def _regions(body: dict[str, Any], institutions: dict[str, dict[str, Any]]) -> Table:
    """Institutions, matched institutions and pairs (or groups) touching each region."""
    region = {iid: inst.get("region") or NO_REGION for iid, inst in institutions.items()}
    members = Counter(region.values())
    matched: Counter[str] = Counter()
    touching: Counter[str] = Counter()
    if "pairs" in body:
        partnered = {i for p in body["pairs"] for i in (p["a"], p["b"])}
        sets = [{p["a"], p["b"]} for p in body["pairs"]]
    else:
        partnered = {m for g in body.get("groups", []) for m in g["members"]}
        sets = [set(g["members"]) for g in body.get("groups", [])]
    for iid in partnered:
        matched[region.get(iid, NO_REGION)] += 1
    for together in sets:
        for name in {region.get(i, NO_REGION) for i in together}:
            touching[name] += 1
    label = "pairs" if "pairs" in body else "groups"
    table = _table("by region", ("region", "institutions", "matched", "share", label))
    for name in sorted(members, key=lambda r: (r == NO_REGION, r)):
        share = matched[name] / members[name]
        table.add_row(
            name, str(members[name]), str(matched[name]), f"{share:.0%}", str(touching[name])
        )
    return table
