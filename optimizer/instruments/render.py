"""The instruments part of ``unishare show``: an agenda per instrument."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.table import Table


def _clock(text: str, day: str | None = None) -> str:
    """'08:30', or '2026-12-02 08:30' when the date is not ``day``."""
    t = datetime.fromisoformat(text)
    if day is not None and t.date().isoformat() == day:
        return t.strftime("%H:%M")
    return t.strftime("%Y-%m-%d %H:%M")


def render(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[RenderableType]:
    """An agenda per instrument; with the instance, names, sites, steps and institutions."""
    body = solution.get("solution") or {}
    instance = instance or {}
    instruments = {i["id"]: i for i in instance.get("instruments", [])}
    requests = {r["id"]: r for r in instance.get("requests", [])}
    utilisation = (solution.get("kpis") or {}).get("utilisation", {})
    by_instrument: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for booking in body.get("bookings", []):
        by_instrument[booking["instrument"]].append(booking)
    order = [i for i in instruments if i in by_instrument] + sorted(
        i for i in by_instrument if i not in instruments
    )
    parts: list[RenderableType] = []
    for iid in order:
        inst = instruments.get(iid, {})
        title = iid
        if inst:
            title += f" · {inst.get('name') or inst.get('type')} · {inst.get('site')}"
        if iid in utilisation:
            title += f" · {utilisation[iid]:.0%} used"
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        columns = ["day", "from", "to", "request", "step", "institution", "operator"]
        if not requests:  # institutions are only in the instance
            columns.remove("institution")
        for column in columns:
            table.add_column(column)
        for b in sorted(by_instrument[iid], key=lambda b: b["start"]):
            day = datetime.fromisoformat(b["start"]).date().isoformat()
            req = requests.get(b["request"], {})
            step = str(b["step"])
            steps = req.get("steps") or []
            if b["step"] < len(steps) and steps[b["step"]].get("name"):
                step += f" {steps[b['step']]['name']}"
            row = [day, _clock(b["start"], day), _clock(b["end"], day), b["request"], step]
            if requests:
                row.append(req.get("institution", ""))
            table.add_row(*row, b.get("operator") or "—")
        parts.append(table)
    return parts
