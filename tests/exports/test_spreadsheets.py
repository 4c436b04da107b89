"""Workbooks in: every shipped example survives instance -> xlsx -> instance, a template filled
by hand validates, and every bad cell is an issue naming its sheet, row and column."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from optimizer.core.documents import parse_document
from optimizer.core.spreadsheets import (
    DOCUMENT_SHEET,
    NOTES_SHEET,
    layout,
    read_workbook,
    template,
    workbook,
)
from optimizer.instruments.generate import week_document
from optimizer.loans.generate import loans_document
from optimizer.matching.generate import groups_document, pairs_document
from optimizer.registry import KINDS
from tests.exports.helpers import REPO_ROOT, examples

BUILT_IN = ("matching", "instruments", "loans")


@pytest.mark.parametrize("path", examples())
def test_every_example_round_trips_through_a_workbook(path: Path) -> None:
    parsed = parse_document(path.read_bytes())
    assert parsed.instance is not None
    back = read_workbook(workbook(parsed.instance))
    assert back.valid, [i.detail for i in back.issues]
    assert back.document is not None
    again = parse_document(back.document)
    assert again.instance is not None
    assert again.instance.model_dump() == parsed.instance.model_dump()


def fill(raw: bytes, document: dict[str, Any], sheets: dict[str, list[dict[str, Any]]]) -> bytes:
    """Fill a template as a planner would: values next to the document's fields, rows under
    each sheet's headers (by header name)."""
    book = load_workbook(io.BytesIO(raw))
    ws = book[DOCUMENT_SHEET]
    for row in ws.iter_rows(min_row=2):
        if row[0].value in document:
            row[1].value = document[row[0].value]
    for name, rows in sheets.items():
        ws = book[name]
        headers = [c.value for c in ws[1]]
        for values in rows:
            ws.append([values.get(h) for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# fmt: off
FILLED: dict[str, tuple[dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, Any]]] = {
    "matching": (
        {"name": "two", "mode": "pairs", "weights.need": 2, "rules.forbidden": "a, c"},
        {
            "institutions": [
                {
                    "id": "a",
                    "name": "A",
                    "region": "Chongqing",
                    "strengths": "computing: 0.8",
                    "needs": "law: 0.5",
                    "location.lat": 29.5,
                    "location.lon": 106.5,
                },
                {
                    "id": "b",
                    "name": "B",
                    "strengths": "law: 0.9",
                    "needs": "computing: 0.4",
                    "capacity": 2,
                    "hub": "yes",
                },
                {"id": "c"},
            ]
        },
        {
            "kind": "matching",
            "name": "two",
            "mode": "pairs",
            "weights": {"need": 2},
            "rules": {"forbidden": [["a", "c"]]},
            "institutions": [
                {
                    "id": "a",
                    "name": "A",
                    "region": "Chongqing",
                    "strengths": {"computing": 0.8},
                    "needs": {"law": 0.5},
                    "location": {"lat": 29.5, "lon": 106.5},
                },
                {
                    "id": "b",
                    "name": "B",
                    "strengths": {"law": 0.9},
                    "needs": {"computing": 0.4},
                    "capacity": 2,
                    "hub": True,
                },
                {"id": "c"},
            ],
        },
    ),
    "instruments": (
        {
            "name": "one-day",
            "horizon.start": "2026-12-01T08:00:00+08:00",
            "horizon.end": "2026-12-01T20:00:00+08:00",
            "options.time_limit_s": 5,
        },
        {
            "sites": [{"id": "s1", "institution": "scu"}],
            "instruments": [{"id": "nmr", "type": "nmr-600", "site": "s1"}],
            "instruments.maintenance": [
                {
                    "instruments.id": "nmr",
                    "start": "2026-12-01T12:00:00+08:00",
                    "end": "2026-12-01T13:00:00+08:00",
                }
            ],
            "requests": [{"id": "r1", "institution": "scu", "weight": 2}],
            "requests.steps": [
                {"requests.id": "r1", "instruments": "nmr", "duration_minutes": 60},
                {"requests.id": "r1", "instrument_type": "nmr-600", "duration_minutes": 30},
            ],
        },
        {
            "kind": "instruments",
            "name": "one-day",
            "options": {"time_limit_s": 5},
            "horizon": {"start": "2026-12-01T08:00:00+08:00", "end": "2026-12-01T20:00:00+08:00"},
            "sites": [{"id": "s1", "institution": "scu"}],
            "instruments": [
                {
                    "id": "nmr",
                    "type": "nmr-600",
                    "site": "s1",
                    "maintenance": [
                        {"start": "2026-12-01T12:00:00+08:00", "end": "2026-12-01T13:00:00+08:00"}
                    ],
                }
            ],
            "requests": [
                {
                    "id": "r1",
                    "institution": "scu",
                    "weight": 2,
                    "steps": [
                        {"instruments": ["nmr"], "duration_minutes": 60},
                        {"instrument_type": "nmr-600", "duration_minutes": 30},
                    ],
                }
            ],
        },
    ),
    "loans": (
        {"horizon.start": "2026-12-01", "horizon.end": "2026-12-20", "penalties.unfilled": 50},
        {
            "libraries": [{"id": "l1"}, {"id": "l2", "max_outgoing": 3}],
            "copies": [
                {
                    "id": "c1",
                    "library": "l1",
                    "title": "isbn:1",
                    "available_from": datetime(2026, 12, 2),
                }
            ],
            "requests": [
                {"id": "q1", "library": "l2", "titles": "isbn:1, isbn:2", "needed_by": "2026-12-10"}
            ],
            "shipping": [{"from": "l1", "to": "l2", "days": 2, "cost": 10.5}],
        },
        {
            "kind": "loans",
            "horizon": {"start": "2026-12-01", "end": "2026-12-20"},
            "penalties": {"unfilled": 50},
            "libraries": [{"id": "l1"}, {"id": "l2", "max_outgoing": 3}],
            "copies": [
                {"id": "c1", "library": "l1", "title": "isbn:1", "available_from": "2026-12-02"}
            ],
            "requests": [
                {
                    "id": "q1",
                    "library": "l2",
                    "titles": ["isbn:1", "isbn:2"],
                    "needed_by": "2026-12-10",
                }
            ],
            "shipping": [{"from": "l1", "to": "l2", "days": 2, "cost": 10.5}],
        },
    ),
}
# fmt: on


@pytest.mark.parametrize("kind", BUILT_IN)
def test_a_template_filled_by_hand_gives_the_document_it_says(kind: str) -> None:
    values, rows, expected = FILLED[kind]
    result = read_workbook(fill(template(kind), values, rows), kind=kind)
    assert result.valid, [i.detail for i in result.issues]
    got = parse_document(result.document).instance
    want = parse_document(expected).instance
    assert got is not None and want is not None
    assert got.model_dump() == want.model_dump()


@pytest.mark.parametrize("kind", BUILT_IN)
def test_the_template_names_every_sheet_column_and_choice(kind: str) -> None:
    shape = layout(kind)
    book = load_workbook(io.BytesIO(template(kind)))
    assert book.sheetnames == [DOCUMENT_SHEET, *(s.name for s in shape.sheets), NOTES_SHEET]
    fields = [r[0] for r in book[DOCUMENT_SHEET].iter_rows(min_row=2, values_only=True)]
    assert fields == [c.name for c in shape.document]
    assert book[DOCUMENT_SHEET]["B2"].value == kind and fields[0] == "kind"
    notes = {(r[0], r[1]) for r in book[NOTES_SHEET].iter_rows(min_row=2, values_only=True)}
    for sheet in shape.sheets:
        headers = [c.value for c in book[sheet.name][1]]
        assert headers == sheet.headers
        assert all(book[sheet.name].cell(1, i + 1).comment for i in range(len(headers)))
        assert {(sheet.name, h) for h in headers} <= notes
    # The choices of a fixed-choice field are offered in the cell, the kind's solvers too.
    choices = [v.formula1 for v in book[DOCUMENT_SHEET].data_validations.dataValidation]
    assert any("false" in f for f in choices)
    assert '"' + ",".join(KINDS[kind].solvers) + '"' in choices
    # Ids stay text: a spreadsheet would make 007 the number 7.
    for sheet in shape.sheets:
        ids = [i for i, h in enumerate(sheet.headers) if h == "id" or h == sheet.key]
        for i in ids:
            letter = chr(ord("A") + i)
            assert book[sheet.name].column_dimensions[letter].number_format == "@", sheet.name


def test_instrument_requests_steps_sheet_is_keyed_by_request() -> None:
    steps = layout("instruments").sheet("requests.steps")
    assert steps is not None and steps.headers[0] == "requests.id"
    assert "duration_minutes" in steps.headers


def bad_workbook(kind: str, edit: Any) -> bytes:
    """A shipped example's workbook with ``edit(book)`` applied."""
    path = next(p.values[0] for p in examples(kind) if not p.marks)
    parsed = parse_document(path.read_bytes())
    assert parsed.instance is not None
    book = load_workbook(io.BytesIO(workbook(parsed.instance)))
    edit(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def cell(book: Any, sheet: str, row: int, column: str) -> Any:
    headers = [c.value for c in book[sheet][1]]
    return book[sheet].cell(row, headers.index(column) + 1)


def issues_of(raw: bytes, kind: str | None = None) -> list[tuple[str, Any, Any, Any]]:
    result = read_workbook(raw, kind=kind)
    assert not result.valid
    for issue in result.issues:
        if issue.sheet is not None:
            assert issue.detail.startswith(f"sheet {issue.sheet}")
    return [(i.code, i.sheet, i.row, i.column) for i in result.issues if i.severity == "error"]


def test_a_wrong_type_names_sheet_row_and_column() -> None:
    def edit(book: Any) -> None:
        cell(book, "requests.steps", 4, "duration_minutes").value = "long"

    assert issues_of(bad_workbook("instruments", edit)) == [
        ("wrong_type", "requests.steps", 4, "duration_minutes")
    ]


def test_an_empty_required_cell_names_sheet_row_and_column() -> None:
    def edit(book: Any) -> None:
        cell(book, "requests", 3, "needed_by").value = None
        cell(book, "libraries", 2, "id").value = ""

    assert sorted(issues_of(bad_workbook("loans", edit))) == [
        ("missing_field", "libraries", 2, "id"),
        ("missing_field", "requests", 3, "needed_by"),
    ]


def test_a_cross_reference_error_points_at_the_cell() -> None:
    def edit(book: Any) -> None:
        cell(book, "copies", 5, "library").value = "nowhere-lib"

    assert issues_of(bad_workbook("loans", edit)) == [("unknown_reference", "copies", 5, "library")]


def test_an_offset_missing_from_a_datetime_cell_is_named() -> None:
    def edit(book: Any) -> None:
        rows = list(book[DOCUMENT_SHEET].iter_rows(min_row=2))
        start = next(r for r in rows if r[0].value == "horizon.start")
        start[1].value = datetime(2026, 12, 1, 8, 0)  # a spreadsheet date: no offset

    [(code, sheet, row, column)] = issues_of(bad_workbook("instruments", edit))
    assert (code, sheet, column) == ("missing_utc_offset", DOCUMENT_SHEET, "value") and row > 1


def test_unreadable_cells_columns_sheets_and_owners_are_issues() -> None:
    def edit(book: Any) -> None:
        cell(book, "institutions", 2, "strengths").value = "computing 0.8"
        book["institutions"].cell(1, 20).value = "capasity"
        book.create_sheet("institution")

    found = issues_of(bad_workbook("matching", edit))
    assert ("bad_cell", "institutions", 2, "strengths") in found
    assert ("unknown_column", "institutions", 1, "capasity") in found
    assert ("unknown_sheet", "institution", None, None) in found
    detail = {i.code: i.detail for i in read_workbook(bad_workbook("matching", edit)).issues}
    assert "did you mean 'capacity'?" in detail["unknown_column"]

    appended: list[int] = []

    def orphan(book: Any) -> None:
        book["requests.steps"].append(["no-such-request", "nmr600-1", None, 30])
        appended.append(book["requests.steps"].max_row)

    assert issues_of(bad_workbook("instruments", orphan)) == [
        ("unknown_reference", "requests.steps", appended[0], "requests.id")
    ]


def test_a_required_sheet_without_rows_and_a_missing_step_are_named() -> None:
    def edit(book: Any) -> None:
        ws = book["requests.steps"]
        keep = [r for r in ws.iter_rows(values_only=True)]
        ws.delete_rows(2, ws.max_row)
        for row in keep[1:]:
            if row[0] != keep[1][0]:
                ws.append(row)

    [(code, sheet, row, column)] = issues_of(bad_workbook("instruments", edit))
    assert (code, sheet, column) == ("missing_field", "requests", None) and row == 2

    empty = load_workbook(io.BytesIO(template("loans")))
    rows = list(empty[DOCUMENT_SHEET].iter_rows(min_row=2))
    for r in rows:
        if r[0].value == "horizon.start":
            r[1].value = "2026-12-01"
        if r[0].value == "horizon.end":
            r[1].value = "2026-12-31"
    out = io.BytesIO()
    empty.save(out)
    assert issues_of(out.getvalue()) == [("missing_field", "libraries", None, None)]


def test_not_a_workbook_and_the_wrong_kind() -> None:
    assert issues_of(b"kind,name\nloans,x\n") == [("not_xlsx", None, None, None)]
    assert issues_of(b"PK\x03\x04 not really a zip") == [("not_xlsx", None, None, None)]
    assert issues_of(template("loans"), kind="matching") == [
        ("wrong_kind", DOCUMENT_SHEET, 2, "value")
    ]
    blank = Workbook()
    out = io.BytesIO()
    blank.save(out)
    assert issues_of(out.getvalue())[0][0] == "missing_field"
    # The kind may come from the caller when the workbook does not say it.
    assert read_workbook(out.getvalue(), kind="loans").document == {"kind": "loans"}


def test_too_many_rows_stop_the_reader() -> None:
    path = next(p.values[0] for p in examples("loans") if not p.marks)
    parsed = parse_document(path.read_bytes())
    assert parsed.instance is not None
    result = read_workbook(workbook(parsed.instance), max_rows=5)
    assert next(i.code for i in result.issues) == "too_many_rows"


def test_docs_list_every_sheet_and_column_of_each_kind() -> None:
    text = (REPO_ROOT / "docs" / "spreadsheets.md").read_text(encoding="utf-8")
    for kind in BUILT_IN:
        section = text.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        shape = layout(kind)
        for sheet in shape.sheets:
            assert f"`{sheet.name}`" in section, (kind, sheet.name)
            for header in sheet.headers:
                assert f"`{header}`" in section, (kind, sheet.name, header)
        for column in shape.document:
            assert f"`{column.name}`" in section, (kind, column.name)
    assert set(BUILT_IN) <= set(KINDS)


GENERATED = [
    pytest.param(lambda seed: pairs_document(12, k=4, seed=seed), id="matching-pairs"),
    pytest.param(lambda seed: groups_document(10, seed=seed), id="matching-groups"),
    pytest.param(
        lambda seed: week_document(n_requests=12, n_instruments=4, n_operators=2, seed=seed),
        id="instruments-week",
    ),
    pytest.param(lambda seed: loans_document(20, libraries=4, copies=15, seed=seed), id="loans"),
]


@pytest.mark.parametrize("make", GENERATED)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_instances_round_trip(make: Any, seed: int) -> None:
    """Seeded instances of every shape the generators make (pins, windows, scores, caps)."""
    parsed = parse_document(make(seed))
    assert parsed.instance is not None, parsed.issues
    back = read_workbook(workbook(parsed.instance))
    assert back.valid, [i.detail for i in back.issues][:3]
    again = parse_document(back.document).instance
    assert again is not None and again.model_dump() == parsed.instance.model_dump()


def test_text_that_looks_like_a_formula_stays_text() -> None:
    document = {
        "kind": "matching",
        "name": "=1+1",
        "institutions": [{"id": "=HYPERLINK(1)", "name": "=cmd|' /C calc'!A0"}, {"id": "b"}],
    }
    parsed = parse_document(document)
    assert parsed.instance is not None
    raw = workbook(parsed.instance)
    book = load_workbook(io.BytesIO(raw))
    assert book["institutions"]["A2"].data_type == "s"
    back = read_workbook(raw)
    assert back.valid and back.document is not None
    assert back.document["name"] == "=1+1"
    assert back.document["institutions"][0]["name"] == "=cmd|' /C calc'!A0"


def test_a_sheet_without_its_header_row_is_named() -> None:
    def edit(book: Any) -> None:
        book["copies"].delete_rows(1)
        book["copies"].insert_rows(1)

    assert issues_of(bad_workbook("loans", edit)) == [("missing_column", "copies", 1, None)]


def test_a_workbook_that_unpacks_too_large_is_refused_unread() -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 2_000_000)
    raw = packed.getvalue()
    assert len(raw) < 10_000
    result = read_workbook(raw, max_unzipped_bytes=1_000_000)
    assert result.document is None and [i.code for i in result.issues] == ["too_large"]
    # Under the limit, the same file is read and found not to be a workbook.
    assert [i.code for i in read_workbook(raw).issues] == ["not_xlsx"]
