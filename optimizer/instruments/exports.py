"""The instruments plan as rows (one per booking, one per unscheduled request) and as calendar
events (one per booking), with names, sites and institutions from the instance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from optimizer.core.plans import CalendarEvent, Table

COLUMNS = [
    "status",
    "request",
    "title",
    "institution",
    "step",
    "step_name",
    "instrument",
    "instrument_name",
    "site",
    "start",
    "end",
    "duration_minutes",
    "operator",
]


class _Lookup:
    """What the instance knows about the ids a booking names."""

    def __init__(self, instance: dict[str, Any] | None):
        instance = instance or {}
        self.requests = {r["id"]: r for r in instance.get("requests", [])}
        self.instruments = {i["id"]: i for i in instance.get("instruments", [])}
        self.sites = {s["id"]: s for s in instance.get("sites", [])}
        self.operators = {o["id"]: o for o in instance.get("operators", [])}

    def step_name(self, request: str, step: int) -> str | None:
        steps = self.requests.get(request, {}).get("steps") or []
        return steps[step].get("name") if 0 <= step < len(steps) else None


def table(solution: dict[str, Any], instance: dict[str, Any] | None) -> Table:
    """One row per booking (status ``booked``), then one per unscheduled request."""
    body = solution.get("solution") or {}
    known = _Lookup(instance)
    out = Table(list(COLUMNS))
    for b in body.get("bookings", []):
        req = known.requests.get(b["request"], {})
        inst = known.instruments.get(b["instrument"], {})
        length = datetime.fromisoformat(b["end"]) - datetime.fromisoformat(b["start"])
        out.rows.append(
            [
                "booked",
                b["request"],
                req.get("title"),
                req.get("institution"),
                b["step"],
                known.step_name(b["request"], b["step"]),
                b["instrument"],
                inst.get("name"),
                inst.get("site"),
                b["start"],
                b["end"],
                int(length.total_seconds() // 60),
                b.get("operator"),
            ]
        )
    for rid in body.get("unscheduled", []):
        req = known.requests.get(rid, {})
        row: list[Any] = [None] * len(COLUMNS)
        row[:4] = ["unscheduled", rid, req.get("title"), req.get("institution")]
        out.rows.append(row)
    return out


def calendar(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[CalendarEvent]:
    """One event per booking; filterable by ``instrument`` and, with the instance, by the
    requesting ``institution``."""
    body = solution.get("solution") or {}
    known = _Lookup(instance)
    plan = solution.get("name") or "plan"
    events = []
    for b in body.get("bookings", []):
        req = known.requests.get(b["request"], {})
        inst = known.instruments.get(b["instrument"], {})
        site = known.sites.get(inst.get("site", ""), {})
        step = f"step {b['step']}"
        if known.step_name(b["request"], b["step"]):
            step += f" ({known.step_name(b['request'], b['step'])})"
        lines = [f"request {b['request']}" + (f": {req['title']}" if req.get("title") else "")]
        if req.get("institution"):
            lines.append(f"institution {req['institution']}")
        lines.append(f"{step} on {b['instrument']}")
        if b.get("operator"):
            operator = known.operators.get(b["operator"], {})
            name = f" ({operator['name']})" if operator.get("name") else ""
            lines.append(f"operator {b['operator']}{name}")
        facets = {"instrument": b["instrument"]}
        if req.get("institution"):
            facets["institution"] = req["institution"]
        location = ", ".join(
            str(x) for x in (site.get("name") or inst.get("site"), site.get("city")) if x
        )
        events.append(
            CalendarEvent(
                uid=f"{b['request']}.{b['step']}.{b['instrument']}@{plan}.unishare",
                start=datetime.fromisoformat(b["start"]),
                end=datetime.fromisoformat(b["end"]),
                summary=f"{inst.get('name') or b['instrument']}: {b['request']} {step}",
                description="\n".join(lines),
                location=location,
                facets=facets,
            )
        )
    return events
