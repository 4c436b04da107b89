"""Prices, budgets, fair-share targets and earlier usage of an instruments instance (6.8).

The documents' models and their cross-field checks, kept apart from ``schema.py`` so the
week's schedule and the alliance's accounts read separately. Costs are exact fractions:
minutes × hourly price / 60, so a budget check never depends on float rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from pydantic import Field

from optimizer.core.issues import IssueCollector, did_you_mean
from optimizer.core.schema import Id, Strict


class Price(Strict):
    instrument_type: Id
    internal_per_hour: int = Field(
        ge=0, description="Whole currency units per hour for the institution running the site."
    )
    external_per_hour: int = Field(
        ge=0, description="Whole currency units per hour for every other institution."
    )


class Budget(Strict):
    institution: Id
    instrument_type: Id | None = Field(
        None, description="A priced instrument type; null limits the bookings on every type."
    )
    max_cost: float = Field(ge=0, allow_inf_nan=False)


class FairShare(Strict):
    institution: Id
    instrument_type: Id
    target: float = Field(ge=0, le=1, allow_inf_nan=False)


class Usage(Strict):
    institution: Id
    instrument_type: Id
    weeks_ago: int = Field(ge=1)
    minutes: int = Field(ge=0)


def hourly_price(price: Price, requester: str, site_institution: str) -> int:
    """The hourly price a requester pays: internal on its own sites, external elsewhere."""
    return price.internal_per_hour if requester == site_institution else price.external_per_hour


def target_percent(share: FairShare) -> int:
    """The target as a whole percentage (validated to be one)."""
    return round(share.target * 100)


def budget_cap(budget: Budget) -> int:
    """60 × ``max_cost`` rounded down: the most Σ minutes × hourly price may reach.

    The sum is a whole number, so rounding the cap down loses nothing; the decimal text of
    the float is taken as meant (``Fraction(str(x))``), so 12.3 is 12.3, not its binary twin.
    """
    return int(Fraction(str(budget.max_cost)) * 60)


def check_accounts(
    check: IssueCollector,
    types: set[str],
    prices: list[Price],
    budgets: list[Budget],
    fair_share: list[FairShare],
    usage: list[Usage],
) -> None:
    """Issues of 6.8: unknown and duplicate types, budgets on unpriced types, targets above 1
    or finer than a percent."""
    priced: set[str] = set()
    for k, price in enumerate(prices):
        path = f"prices[{k}]"
        _known_type(check, price.instrument_type, types, f"{path}.instrument_type")
        if price.instrument_type in priced:
            check.add(
                "duplicate_price",
                path,
                f"{path}: the price of {price.instrument_type!r} is given more than once",
            )
        priced.add(price.instrument_type)
    seen_budget: set[tuple[str, str | None]] = set()
    for k, budget in enumerate(budgets):
        path = f"budgets[{k}]"
        kind = budget.instrument_type
        if kind is not None:
            _known_type(check, kind, types, f"{path}.instrument_type")
        if (kind is not None and kind in types and kind not in priced) or (
            kind is None and not priced
        ):
            check.add(
                "budget_without_price",
                f"{path}.instrument_type",
                f"{path}.instrument_type = {kind!r}: no price is given for "
                f"{'it' if kind is not None else 'any type'}, so the budget limits nothing",
            )
        key = (budget.institution, kind)
        if key in seen_budget:
            check.add(
                "duplicate_budget",
                path,
                f"{path}: the budget of {budget.institution!r} on {kind!r} is given more than once",
            )
        seen_budget.add(key)
    seen_share: set[tuple[str, str]] = set()
    total: dict[str, float] = {}
    for k, share in enumerate(fair_share):
        path = f"fair_share[{k}]"
        _known_type(check, share.instrument_type, types, f"{path}.instrument_type")
        key = (share.institution, share.instrument_type)
        if key in seen_share:
            check.add(
                "duplicate_fair_share",
                path,
                f"{path}: the target of {share.institution!r} on {share.instrument_type!r} "
                "is given more than once",
            )
        seen_share.add(key)
        if abs(share.target * 100 - round(share.target * 100)) > 1e-9:
            check.add(
                "fair_share_precision",
                f"{path}.target",
                f"{path}.target = {share.target!r} is not a whole percentage (two decimals)",
            )
        before = total.get(share.instrument_type, 0.0)
        total[share.instrument_type] = before + share.target
        if before <= 1 + 1e-9 < total[share.instrument_type]:
            check.add(
                "fair_share_over_one",
                f"{path}.target",
                f"{path}.target = {share.target:g} brings the targets on "
                f"{share.instrument_type!r} to {total[share.instrument_type]:g}, above 1",
            )
    for k, record in enumerate(usage):
        _known_type(check, record.instrument_type, types, f"usage_history[{k}].instrument_type")


def _known_type(check: IssueCollector, value: str, types: Iterable[str], path: str) -> None:
    known = set(types)
    if value not in known:
        check.add(
            "unknown_reference",
            path,
            f"{path} = {value!r} is not the type of any instrument{did_you_mean(value, known)}",
        )
