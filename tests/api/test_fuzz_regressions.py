"""Server errors schemathesis found, each kept as a small test of its own."""

from __future__ import annotations

from typing import Any

import pytest

from optimizer.core.documents import parse_document


@pytest.mark.parametrize("kind", [{}, [], 3, True], ids=["object", "list", "number", "bool"])
def test_a_kind_that_is_not_a_string_is_an_issue_not_a_crash(kind: Any) -> None:
    # Regression: {"kind": {}} raised "unhashable type: 'dict'", a 500 on /v1/solve.
    parsed = parse_document({"kind": kind})
    assert parsed.kind is None
    assert [(i.code, i.path) for i in parsed.issues] == [("wrong_type", "kind")]
