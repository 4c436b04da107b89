"""Malformed documents are ``invalid`` with an issue that names the code and the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status

INVALID = Path(__file__).resolve().parent.parent / "data" / "invalid"

EXPECTED = {
    "loans-unknown-library": ("unknown_reference", "copies[0].library"),
    "loans-unknown-borrower": ("unknown_reference", "requests[0].library"),
    "loans-duplicate-copy": ("duplicate_id", "copies[1].id"),
    "loans-duplicate-library": ("duplicate_id", "libraries[2].id"),
    "loans-horizon-reversed": ("end_before_start", "horizon.end"),
    "loans-empty-titles": ("too_short", "requests[0].titles"),
    "loans-self-route": ("self_pair", "shipping[0]"),
    "loans-unknown-route-library": ("unknown_reference", "shipping[0].to"),
    "loans-duplicate-route": ("duplicate_route", "shipping[1]"),
    "loans-zero-loan-days": ("out_of_range", "requests[0].loan_days"),
    "loans-zero-weight": ("out_of_range", "requests[0].weight"),
    "loans-negative-cost": ("out_of_range", "shipping[0].cost"),
    "loans-negative-penalty": ("out_of_range", "penalties.unfilled"),
    "loans-bad-date": ("invalid_date", "requests[0].needed_by"),
    "loans-datetime-not-date": ("invalid_date", "copies[0].available_from"),
    "loans-unknown-field": ("unknown_field", "copies[0].shelf"),
    "loans-negative-imbalance": ("out_of_range", "policies.max_imbalance"),
    "loans-negative-balance-price": ("out_of_range", "policies.balance_price"),
    "loans-missing-needed-by": ("missing_field", "requests[0].needed_by"),
    "loans-misspelt-needed-by": ("unknown_field", "requests[0].neded_by"),
}

# The nearest known id or field name each misspelling's detail suggests.
SUGGESTED = {"loans-misspelt-needed-by": "did you mean 'needed_by'?"}


def test_every_file_has_an_expectation() -> None:
    assert {p.stem for p in INVALID.glob("loans-*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_document(name: str) -> None:
    solution = solve_document((INVALID / f"{name}.json").read_bytes())
    assert solution.status == Status.INVALID
    code, path = EXPECTED[name]
    assert (code, path) in {(i.code, i.path) for i in solution.issues}, solution.issues
    assert solution.solution is None
    if name in SUGGESTED:
        (detail,) = [i.detail for i in solution.issues if i.path == path]
        assert detail.endswith(SUGGESTED[name])


def test_loans_offers_rota_and_minimises() -> None:
    from optimizer.registry import KINDS

    assert "rota" in KINDS["loans"].solvers
    assert KINDS["loans"].maximize is False
