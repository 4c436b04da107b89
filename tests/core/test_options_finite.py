"""Regression: options.time_limit_s = Infinity (a literal Python's JSON reader accepts) was
solved as if it were a limit, against the contract's rule that numbers are finite."""

from __future__ import annotations

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status


@pytest.mark.parametrize(
    ("field", "literal"),
    [("time_limit_s", "Infinity"), ("time_limit_s", "NaN"), ("relative_gap", "Infinity")],
)
def test_non_finite_options_are_invalid(field, literal):
    options = f'{{"{field}": {literal}}}'
    document = f'{{"kind": "matching", "options": {options}, "institutions": [{{"id": "a"}}]}}'
    solution = solve_document(document)
    assert solution.status == Status.INVALID
    assert [(i.code, i.path) for i in solution.issues] == [("not_finite", f"options.{field}")]
