"""An instruments plan as items: each booked step, with where and when it runs."""

from __future__ import annotations

from typing import Any

from optimizer.core.plans import PlanItems


def booking_key(request: str, step: int) -> str:
    return f"{request}#{step}"


def items(payload: dict[str, Any]) -> PlanItems:
    """One item per booking (key ``request#step``): its instrument and start. Another
    operator on the same slot is not a change of the plan the users see."""
    return {
        booking_key(b["request"], b["step"]): {"instrument": b["instrument"], "start": b["start"]}
        for b in payload["bookings"]
    }
