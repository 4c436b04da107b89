"""The loans plan as rows: one per loan, one per unfilled request."""

from __future__ import annotations

from typing import Any

from optimizer.core.plans import Table

COLUMNS = [
    "status",
    "request",
    "borrower",
    "lender",
    "copy",
    "title",
    "ship",
    "arrive",
    "due_back",
    "home",
    "late_days",
    "cost",
    "courier",
    "return_courier",
    "return_ship",
]


def table(solution: dict[str, Any], instance: dict[str, Any] | None) -> Table:
    """One row per loan (status ``lent``), then one per unfilled request; the borrowing
    library is the loan's own ``borrower`` or, failing that, the request's in the instance.
    With couriers, the courier runs are the loans' courier columns, not rows of their own."""
    body = solution.get("solution") or {}
    borrower = {r["id"]: r.get("library") for r in (instance or {}).get("requests", [])}
    out = Table(list(COLUMNS))
    for loan in body.get("loans", []):
        out.rows.append(
            [
                "lent",
                loan["request"],
                loan.get("borrower") or borrower.get(loan["request"]),
                loan["lender"],
                loan["copy"],
                loan["title"],
                loan["ship"],
                loan["arrive"],
                loan["due_back"],
                loan["home"],
                loan["late_days"],
                loan["cost"],
                loan.get("courier"),
                loan.get("return_courier"),
                loan.get("return_ship"),
            ]
        )
    for rid in body.get("unfilled", []):
        row: list[Any] = [None] * len(COLUMNS)
        row[:3] = ["unfilled", rid, borrower.get(rid)]
        out.rows.append(row)
    return out
