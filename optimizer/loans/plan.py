"""A loans plan as items: each filled request, with the copy that ships and when."""

from __future__ import annotations

from typing import Any

from optimizer.core.plans import PlanItems


def items(payload: dict[str, Any]) -> PlanItems:
    """One item per loan (key: the request id): lender, copy and ship day."""
    return {
        loan["request"]: {"lender": loan["lender"], "copy": loan["copy"], "ship": loan["ship"]}
        for loan in payload["loans"]
    }
