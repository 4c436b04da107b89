"""The matching part of ``unishare show``: pairs or consortia with names and provinces, and
how each province fares."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text


def render(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[RenderableType]:
    """Pairs or groups, with each institution's name and region when the instance is given,
    and the matched institutions per region."""
    body = solution.get("solution") or {}
    institutions = {x["id"]: x for x in (instance or {}).get("institutions", [])}
    parts: list[RenderableType] = []
    if "pairs" in body:
        parts += _pairs(body, institutions)
    if "groups" in body:
        parts += _groups(body, institutions)
    by_region = (solution.get("kpis") or {}).get("by_region")
    if by_region:
        parts.append(_regions(by_region, "pairs" if "pairs" in body else "groups"))
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
    by_period = any("period" in pair for pair in body["pairs"])
    table = _table("pairs", ("period", "a", "b", "score") if by_period else ("a", "b", "score"))
    for pair in body["pairs"]:
        cells = [
            _who(pair["a"], institutions),
            _who(pair["b"], institutions),
            f"{pair['score']:.4f}",
        ]
        table.add_row(*([str(pair["period"])] if by_period else []), *cells)
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


def _regions(by_region: dict[str, dict[str, Any]], label: str) -> Table:
    """The plan's ``by_region`` KPIs as a table."""
    table = _table("by region", ("region", "institutions", "matched", "share", label, "mean"))
    for name, row in by_region.items():
        table.add_row(
            name,
            str(row["institutions"]),
            str(row["matched"]),
            f"{row['share_matched']:.0%}",
            str(row["pairs_or_groups"]),
            f"{row['mean_score']:.4f}",
        )
    return table
