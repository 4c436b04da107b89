"""Solution documents as people read them: an agenda per instrument, pairs, loans.

Used by ``unishare show``. The solution document alone is enough; given its instance too,
the views add what only the instance knows (instrument names and sites, step names,
institutions, titles).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def render(solution: dict[str, Any], instance: dict[str, Any] | None = None) -> RenderableType:
    """The whole view of one solution document."""
    parts: list[RenderableType] = [_headline(solution)]
    body = solution.get("solution") or {}
    kind = solution.get("kind")
    if kind == "instruments" and body:
        parts += _instruments(solution, body, instance or {})
    elif kind == "matching" and body:
        parts += _matching(body)
    elif kind == "loans" and body:
        parts += _loans(body, instance or {})
    parts += _explanations(solution)
    # A blank line before each table keeps its title apart from the rows above.
    parts = [
        p for part in parts for p in ((Text(""), part) if isinstance(part, Table) else (part,))
    ]
    for issue in solution.get("issues") or []:
        parts.append(Text(f"{issue.get('code')} at {issue.get('path') or '(document)'}: "
                          f"{issue.get('detail')}", style="red"))  # fmt: skip
    return Group(*parts)


def _headline(solution: dict[str, Any]) -> Text:
    status = str(solution.get("status"))
    line = Text()
    line.append(f"{solution.get('name') or '(unnamed)'}", style="bold")
    line.append(f" · {solution.get('kind')} · ")
    line.append(status, style="green" if status == "optimal" else "yellow")
    if solution.get("objective") is not None:
        line.append(f" · objective {solution['objective']:,.6g}")
    if solution.get("bound") is not None:
        line.append(f" · bound {solution['bound']:,.6g}")
    if solution.get("gap") is not None:
        line.append(f" · gap {solution['gap']:.2%}")
    verification = solution.get("verification") or {}
    if verification.get("checked"):
        line.append(" · verified" if verification.get("valid") else " · NOT VALID",
                    style=None if verification.get("valid") else "red")  # fmt: skip
    return line


def _clock(text: str, day: str | None = None) -> str:
    """'08:30', or '2026-12-02 08:30' when the date is not ``day``."""
    t = datetime.fromisoformat(text)
    if day is not None and t.date().isoformat() == day:
        return t.strftime("%H:%M")
    return t.strftime("%Y-%m-%d %H:%M")


def _instruments(
    solution: dict[str, Any], body: dict[str, Any], instance: dict[str, Any]
) -> list[RenderableType]:
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


def _matching(body: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if "pairs" in body:
        table = Table(title="pairs", title_justify="left", show_edge=False, pad_edge=False)
        for column in ("a", "b", "score"):
            table.add_column(column, justify="right" if column == "score" else "left")
        for pair in body["pairs"]:
            table.add_row(pair["a"], pair["b"], f"{pair['score']:.4f}")
        parts.append(table)
        if body.get("unmatched"):
            parts.append(Text(f"unmatched: {', '.join(body['unmatched'])}"))
    if "groups" in body:
        table = Table(title="groups", title_justify="left", show_edge=False, pad_edge=False)
        for column in ("group", "members", "score"):
            table.add_column(column, justify="right" if column == "score" else "left")
        for group in body["groups"]:
            table.add_row(group["id"], ", ".join(group["members"]), f"{group['score']:.4f}")
        parts.append(table)
        if body.get("ungrouped"):
            parts.append(Text(f"ungrouped: {', '.join(body['ungrouped'])}"))
    return parts


def _loans(body: dict[str, Any], instance: dict[str, Any]) -> list[RenderableType]:
    borrower = {r["id"]: r.get("library", "") for r in instance.get("requests", [])}
    by_lender: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for loan in body.get("loans", []):
        by_lender[loan["lender"]].append(loan)
    parts: list[RenderableType] = []
    for lender in sorted(by_lender):
        table = Table(title=f"{lender} lends", title_justify="left", show_edge=False,
                      pad_edge=False)  # fmt: skip
        columns = ["ship", "arrive", "due back", "home", "request", "to", "copy", "title"]
        if not borrower:  # the borrowing library is only in the instance
            columns.remove("to")
        for column in [*columns, "late days", "cost"]:
            table.add_column(column, justify="right" if column in ("late days", "cost") else "left")
        for loan in sorted(by_lender[lender], key=lambda x: (x["ship"], x["request"])):
            row = [loan["ship"], loan["arrive"], loan["due_back"], loan["home"], loan["request"]]
            if borrower:
                row.append(borrower.get(loan["request"], ""))
            row += [loan["copy"], loan["title"], str(loan["late_days"]), f"{loan['cost']:.2f}"]
            table.add_row(*row)
        parts.append(table)
    if body.get("unfilled"):
        parts.append(Text(f"unfilled: {', '.join(body['unfilled'])}"))
    return parts


def _explanations(solution: dict[str, Any]) -> list[RenderableType]:
    explanations = solution.get("explanations") or []
    if not explanations:
        return []
    table = Table(title="why", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("subject")
    table.add_column("code")
    table.add_column("detail")
    for e in explanations:
        table.add_row(str(e.get("subject")), str(e.get("code")), str(e.get("detail")))
    return [table]
