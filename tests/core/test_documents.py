"""From raw documents to solution documents: every failure is a document too, never raised."""

from __future__ import annotations

import json

from optimizer.core.documents import parse_document, resolve_options, solve_document
from optimizer.core.envelope import Status

DOC = {
    "kind": "matching",
    "institutions": [{"id": "a"}, {"id": "b"}],
    "scores": [{"a": "a", "b": "b", "score": 2.0}],
    "options": {"time_limit_s": 10, "threads": 1},
}


def test_bytes_text_and_parsed_json_read_alike():
    for raw in (json.dumps(DOC).encode(), json.dumps(DOC), DOC):
        parsed = parse_document(raw, default_name="stem")
        assert parsed.issues == []
        assert parsed.kind == "matching"
        assert parsed.instance is not None and parsed.instance.name == "stem"


def test_the_documents_own_name_wins_over_the_file_stem():
    parsed = parse_document({**DOC, "name": "east-west"}, default_name="stem")
    assert parsed.name == parsed.instance.name == "east-west"


def test_bytes_that_are_not_utf8_are_malformed():
    parsed = parse_document(b'{"kind": "matching", "name": "\xff"}')
    assert [(i.code, i.path) for i in parsed.issues] == [("malformed_json", "")]
    assert "UTF-8" in parsed.issues[0].detail


def test_malformed_json_says_where():
    parsed = parse_document('{"kind": "matching",\n "institutions": [}')
    (issue,) = parsed.issues
    assert issue.code == "malformed_json"
    assert "line 2" in issue.detail


def test_override_issues_are_placed_under_options():
    instance = parse_document(DOC).instance
    options, issues = resolve_options(instance, {"threads": -1, "time_limit_s": None})
    assert options is None
    assert [(i.code, i.path) for i in issues] == [("out_of_range", "options.threads")]
    options, issues = resolve_options(instance, {"seed": 8})
    assert issues == [] and options.seed == 8 and options.time_limit_s == 10


def test_solve_document_applies_overrides():
    solution = solve_document(json.dumps(DOC), overrides={"solver": "cbc", "seed": 3})
    assert solution.status == Status.OPTIMAL
    assert (solution.run.solver, solution.run.seed) == ("cbc", 3)
    assert solution.objective == 2.0


def test_deeply_nested_json_is_malformed_not_a_crash():
    """Regression: json.loads raised RecursionError on a deeply nested document, and the
    exception escaped solve_document (and the CLI batch) instead of an invalid solution."""
    solution = solve_document("[" * 100_000)
    assert solution.status == Status.INVALID
    assert [(i.code, i.path) for i in solution.issues] == [("malformed_json", "")]


def test_an_integer_beyond_the_digit_limit_is_malformed_not_a_crash():
    """Regression: a 5000-digit integer made json.loads raise ValueError (Python's
    int_max_str_digits), which is not a JSONDecodeError and escaped solve_document."""
    raw = '{"kind": "matching", "institutions": [{"id": "a", "capacity": ' + "1" * 5000 + "}]}"
    solution = solve_document(raw)
    assert solution.status == Status.INVALID
    assert [(i.code, i.path) for i in solution.issues] == [("malformed_json", "")]


def test_a_utf8_byte_order_mark_is_accepted():
    """Editors on Windows save UTF-8 with a BOM; it used to read as "not valid JSON"."""
    parsed = parse_document(b"\xef\xbb\xbf" + json.dumps(DOC).encode())
    assert parsed.issues == [] and parsed.kind == "matching"
