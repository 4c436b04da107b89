"""Workbooks written: a kind's empty template, or an instance as a workbook."""

from __future__ import annotations

import io
import json
import typing
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, NaiveDatetime

from optimizer.core.spreadsheets.cells import get_path, to_cell
from optimizer.core.spreadsheets.layout import (
    DOCUMENT_SHEET,
    NOTES_SHEET,
    Column,
    Layout,
    Sheet,
    choices,
    layout,
)


def _type_name(column: Column) -> str:
    base = column.base
    if typing.get_origin(base) is Literal or (column.choices and base is not bool):
        name = "one of " + ", ".join(column.choices or choices(base))
    elif base in (AwareDatetime, NaiveDatetime) or (
        isinstance(base, type) and issubclass(base, datetime)
    ):
        name = "datetime with offset, 2026-12-01T08:00:00+08:00"
    elif isinstance(base, type) and issubclass(base, date):
        name = "date, YYYY-MM-DD"
    elif isinstance(base, type):
        name = {"str": "text", "int": "integer", "float": "number", "bool": "true or false"}.get(
            base.__name__, base.__name__
        )
    else:
        name = "value"
    return {
        "scalar": name,
        "list": f"list of {name}, comma-separated",
        "pairs": f"pairs of {name}: 'a, b; c, d'",
        "mapping": f"'key: {name}, …'",
        "json": "JSON",
    }[column.cell]


def _typed_as_text(column: Column) -> bool:
    """Cells a spreadsheet must keep as typed: ids ("007"), datetimes with their offset,
    lists. Numbers and booleans are left to the spreadsheet."""
    if column.cell != "scalar":
        return True
    return not (isinstance(column.base, type) and issubclass(column.base, bool | int | float))


def _note(column: Column) -> str:
    parts = [_type_name(column)]
    if column.required:
        parts.append("required")
    elif column.default not in (None, [], {}):
        default = column.default
        if isinstance(default, BaseModel):
            default = None
        if default is not None:
            shown = json.dumps(default) if isinstance(default, bool) else str(default)
            parts.append(f"default {shown}")
    if column.description:
        parts.append(column.description)
    return "; ".join(parts)


def finished(book: Any) -> bytes:
    """The workbook's bytes, every sheet's header row bold and kept in view."""
    from openpyxl.styles import Font

    for ws in book.worksheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def text_not_formulas(ws: Any) -> None:
    """Keep the text of the last row's cells as text: openpyxl makes a formula of any text
    that starts with ``=``, and a name such as ``=cmd|...`` must never run in a spreadsheet."""
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _items(data: dict[str, Any], sheet: Sheet) -> list[tuple[Any, dict[str, Any]]]:
    """(parent id or None, entry) of every entry of ``sheet`` in ``data``."""
    if sheet.parent is None:
        return [(None, item) for item in data.get(sheet.field) or []]
    return [
        (parent.get("id"), item)
        for parent in data.get(sheet.parent.field) or []
        for item in parent.get(sheet.field) or []
    ]


def _write(shape: Layout, data: dict[str, Any] | None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    finish_row = text_not_formulas

    def choices(ws: Any, cells: str, column: Column) -> None:
        if column.choices:
            rule = DataValidation(
                type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True
            )
            rule.error = f"{column.name}: {_type_name(column)}"
            ws.add_data_validation(rule)
            rule.add(cells)

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = DOCUMENT_SHEET
    ws.append(["field", "value", "notes"])
    for column in shape.document:
        if data is not None:
            value = to_cell(get_path(data, column.path), column)
        else:
            value = shape.kind if column.name == "kind" else None
        ws.append([column.name, value, _note(column)])
        finish_row(ws)
        choices(ws, f"B{ws.max_row}", column)
        if _typed_as_text(column):
            ws.cell(ws.max_row, 2).number_format = "@"
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 36
    ws.column_dimensions["C"].width = 80
    notes: list[list[str]] = [["sheet", "column", "notes"]]
    notes += [[DOCUMENT_SHEET, c.name, _note(c)] for c in shape.document]
    for sheet in shape.sheets:
        ws = book.create_sheet(sheet.name)
        ws.append(sheet.headers)
        offset = 1 if sheet.key else 0
        if sheet.key:
            assert sheet.parent is not None
            ws.column_dimensions["A"].number_format = "@"
            text = f"id of the entry of sheet {sheet.parent.name} this row belongs to; required"
            ws.cell(1, 1).comment = Comment(text, "UniShare")
            notes.append([sheet.name, sheet.key, text])
        for i, column in enumerate(sheet.columns, start=1 + offset):
            ws.cell(1, i).comment = Comment(_note(column), "UniShare")
            notes.append([sheet.name, column.name, _note(column)])
            letter = get_column_letter(i)
            choices(ws, f"{letter}2:{letter}10000", column)
            if _typed_as_text(column):
                ws.column_dimensions[letter].number_format = "@"
            ws.column_dimensions[letter].width = max(12, min(40, len(column.name) + 4))
        for parent_id, item in _items(data or {}, sheet):
            row = [parent_id] if sheet.key else []
            row += [to_cell(get_path(item, c.path), c) for c in sheet.columns]
            ws.append(row)
            finish_row(ws)
    notes_ws = book.create_sheet(NOTES_SHEET)
    for row in notes:
        notes_ws.append(row)
    notes_ws.column_dimensions["A"].width = 24
    notes_ws.column_dimensions["B"].width = 28
    notes_ws.column_dimensions["C"].width = 100
    return finished(book)


def template(kind: str) -> bytes:
    """An empty workbook for ``kind``: its sheets and headers, notes on every column, the
    choices of fixed-choice columns, and ``kind`` filled in."""
    return _write(layout(kind), None)


def workbook(instance: BaseModel) -> bytes:
    """A validated instance as a filled workbook; reading it back gives the same instance.

    Values equal to their default are left empty, as a planner would leave them.
    """
    kind = str(getattr(instance, "kind"))  # noqa: B009 - every instance model has one
    data = instance.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["kind"] = kind
    return _write(layout(kind), data)
