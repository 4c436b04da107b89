"""The loans plan as rows: one per loan, one per unfilled request; beside them the courier
runs and the settlement, each a table of its own."""

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


RUN_COLUMNS = ["courier", "from", "to", "day", "items", "capacity", "cost"]
SETTLEMENT_COLUMNS = ["library", "lent", "received", "net", "amount"]
TRANSFER_COLUMNS = ["from", "to", "loans", "amount"]


def sheets(solution: dict[str, Any], instance: dict[str, Any] | None) -> dict[str, Table]:
    """Sheet ``runs``: one row per courier run the plan rides (7.7), its route and capacity
    read off the instance's couriers (empty without the instance); sheets ``settlement``
    (one row per library) and ``transfers`` (who owes whom) with a balance price (7.8)."""
    body = solution.get("solution") or {}
    out: dict[str, Table] = {}
    if body.get("runs"):
        couriers = {c["id"]: c for c in (instance or {}).get("couriers", [])}
        runs = Table(list(RUN_COLUMNS))
        for run in body["runs"]:
            courier = couriers.get(run["courier"], {})
            runs.rows.append(
                [
                    run["courier"],
                    courier.get("from"),
                    courier.get("to"),
                    run["day"],
                    run["items"],
                    courier.get("capacity"),
                    run["cost"],
                ]
            )
        out["runs"] = runs
    settlement = body.get("settlement")
    if settlement:
        out["settlement"] = Table(
            list(SETTLEMENT_COLUMNS),
            [[row[c] for c in SETTLEMENT_COLUMNS] for row in settlement["libraries"]],
        )
        out["transfers"] = Table(
            list(TRANSFER_COLUMNS),
            [[row[c] for c in TRANSFER_COLUMNS] for row in settlement["transfers"]],
        )
    return out
