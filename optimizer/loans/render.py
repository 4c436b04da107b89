"""The loans part of ``unishare show``: what each library lends, what stays unfilled, the
courier runs the loans ride (contract 7.7), and who owes whom when a balance price is set."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text


def render(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[RenderableType]:
    """The loans per lending library, the unfilled requests, the runs, and who owes whom."""
    body = solution.get("solution") or {}
    by_courier = "runs" in body
    instance = instance or {}
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
        if by_courier:
            columns += ["courier", "back on"]
        for column in [*columns, "late days", "cost"]:
            table.add_column(column, justify="right" if column in ("late days", "cost") else "left")
        for loan in sorted(by_lender[lender], key=lambda x: (x["ship"], x["request"])):
            row = [loan["ship"], loan["arrive"], loan["due_back"], loan["home"], loan["request"]]
            if borrower:
                row.append(borrower.get(loan["request"], ""))
            row += [loan["copy"], loan["title"]]
            if by_courier:
                row += [loan["courier"], f"{loan['return_ship']} {loan['return_courier']}"]
            row += [str(loan["late_days"]), f"{loan['cost']:.2f}"]
            table.add_row(*row)
        parts.append(table)
    if body.get("unfilled"):
        parts.append(Text(f"unfilled: {', '.join(body['unfilled'])}"))
    if body.get("runs"):
        parts += _runs(body["runs"])
    if body.get("settlement"):
        parts += _settlement(body["settlement"])
    return parts


def _runs(runs: list[dict[str, Any]]) -> list[RenderableType]:
    """The courier runs the plan's legs ride, out and back (contract 7.7)."""
    heading = Text(f"courier runs: {len(runs)}, costing {sum(r['cost'] for r in runs):.2f}")
    table = Table(show_edge=False, pad_edge=False)
    for column in ("day", "courier", "items", "cost"):
        table.add_column(column, justify="right" if column in ("items", "cost") else "left")
    for run in runs:
        table.add_row(run["day"], run["courier"], str(run["items"]), f"{run['cost']:.2f}")
    return [heading, table]


def _settlement(settlement: dict[str, Any]) -> list[RenderableType]:
    """Who owes whom, at the balance price (contract 7.8)."""
    fewest = "the fewest" if settlement["fewest_transfers"] else "not proven the fewest"
    # A heading of its own: a table's title would wrap to the narrow table's width.
    heading = Text(f"settlement at {settlement['price']:g} per net loan ({fewest})")
    table = Table(show_edge=False, pad_edge=False)
    for column in ("from", "to", "loans", "amount"):
        table.add_column(column, justify="right" if column in ("loans", "amount") else "left")
    for t in settlement["transfers"]:
        table.add_row(t["from"], t["to"], str(t["loans"]), f"{t['amount']:.2f}")
    return [heading, table]
