"""Instance documents as XLSX workbooks a planner fills by hand, and back.

The layout of a kind's workbook is read off its instance model, so a new kind gets one by
declaring its schema (docs/spreadsheets.md):

- sheet ``document`` holds the document's single values, one per row (``field``, ``value``):
  ``kind``, ``name``, ``options.time_limit_s``, ``horizon.start``, ``weights.need``…;
- every list of objects gets a sheet named after its field (``institutions``, ``requests``),
  one row per entry, one column per field; a nested object's fields are dotted columns
  (``location.lat``);
- a list of objects inside an entry that has an ``id`` gets its own sheet,
  ``<sheet>.<field>`` (``requests.steps``), whose first column ``<sheet>.id`` names the entry
  each row belongs to;
- a list of values is one cell, comma-separated (``cryoem-1, cryoem-2``); a list of pairs
  separates pairs with ``;`` (``cqu, zju; scu, fdu``); a mapping is ``key: value, …``; any of
  them may be written as JSON instead (a cell starting with ``[`` or ``{``);
- an empty cell is an absent field: its default applies.

Reading a workbook gives a JSON document that goes through the normal parse path; every issue
is mapped back to the sheet, row and column it came from.
"""

from __future__ import annotations

import io
import json
import logging
import types
import typing
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, NaiveDatetime
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from optimizer.core.issues import Issue, did_you_mean

log = logging.getLogger(__name__)

DOCUMENT_SHEET = "document"
NOTES_SHEET = "notes"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A workbook compresses its XML about tenfold; a sheet of 250,000 rows unpacks to roughly
# 100 MB. More than this is refused before anything is unpacked (a zip bomb).
MAX_UNZIPPED_BYTES = 400_000_000

CellKind = Literal["scalar", "list", "pairs", "mapping", "json"]


# ---------------------------------------------------------------- the layout of a kind


@dataclass
class Column:
    """One column of a sheet (or one row of the document sheet)."""

    name: str
    """The header: the field's name in the document, dotted inside nested objects."""
    path: tuple[str, ...]
    cell: CellKind
    base: Any
    """The scalar type of the value, or of the list's or mapping's values."""
    required: bool
    default: Any
    description: str
    choices: tuple[str, ...] = ()


@dataclass
class Sheet:
    """One sheet: a list of objects of the document, one row per object."""

    name: str
    field: str
    columns: list[Column]
    required: bool
    parent: Sheet | None = None
    description: str = ""

    @property
    def key(self) -> str | None:
        """The header of the column naming the parent entry (``requests.id``)."""
        return f"{self.parent.name}.id" if self.parent is not None else None

    @property
    def headers(self) -> list[str]:
        return ([self.key] if self.key else []) + [c.name for c in self.columns]


@dataclass
class Layout:
    kind: str
    document: list[Column]
    sheets: list[Sheet]

    def sheet(self, name: str) -> Sheet | None:
        return next((s for s in self.sheets if s.name == name), None)


def _plain(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and without ``None`` in a union; a union of
    several other types stays as it is (its cells are JSON)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found = [_plain(a) for a in typing.get_args(annotation) if a is not type(None)]
        return found[0] if len(found) == 1 else annotation
    return annotation


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _scalar(tp: Any) -> bool:
    if typing.get_origin(tp) is Literal:
        return True
    if tp in (AwareDatetime, NaiveDatetime):
        return True
    return isinstance(tp, type) and issubclass(tp, str | int | float | bool | date)


def _choices(tp: Any) -> tuple[str, ...]:
    if typing.get_origin(tp) is Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    if tp is bool:
        return ("true", "false")
    return ()


def _classify(annotation: Any) -> tuple[CellKind | Literal["model", "sheet"], Any]:
    tp = _plain(annotation)
    if _is_model(tp):
        return "model", tp
    if _scalar(tp):
        return "scalar", tp
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple) and args:
        item = _plain(args[0])
        if origin is list and _is_model(item):
            return "sheet", item
        if _scalar(item) and (origin is list or Ellipsis in args or len(set(args)) == 1):
            return "list", item
        if origin is list and typing.get_origin(item) is tuple:
            inner = [_plain(a) for a in typing.get_args(item)]
            if inner and all(_scalar(a) for a in inner):
                return "pairs", inner[0]
    if origin is dict and len(args) == 2 and _scalar(_plain(args[1])):
        return "mapping", _plain(args[1])
    return "json", tp


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """(name in the document, field) of each field of ``model``, aliases first."""
    return [(info.alias or name, info) for name, info in model.model_fields.items()]


def _columns(
    fields: list[tuple[str, FieldInfo]],
    prefix: tuple[str, ...],
    owner: str,
    sheets: list[Sheet] | None,
    within_required: bool = True,
) -> list[Column]:
    """The columns of ``fields``; a list of objects becomes a sheet appended to ``sheets``
    when it is given (only entries with an ``id`` can own the rows of another sheet), and a
    JSON cell otherwise."""
    out: list[Column] = []
    for key, info in fields:
        what, tp = _classify(info.annotation)
        description = info.description or ""
        if what == "model":
            required = within_required and info.is_required()
            out += _columns(_fields(tp), (*prefix, key), owner, None, required)
            continue
        if what == "sheet" and sheets is not None:
            name = f"{owner}.{key}"[:31]
            sheets.append(
                Sheet(
                    name,
                    key,
                    _columns(_fields(tp), (), name, None),
                    info.is_required(),
                    description=description,
                )
            )
            continue
        cell: CellKind = "json" if what == "sheet" else what
        out.append(
            Column(
                name=".".join((*prefix, key)),
                path=(*prefix, key),
                cell=cell,
                base=tp,
                required=info.is_required() and within_required,
                default=_default(info),
                description=description,
                choices=_choices(tp) if cell == "scalar" else (),
            )
        )
    return out


# A previous plan comes from a solution document (`--previous`), not from cells typed by hand.
NOT_IN_WORKBOOKS = frozenset({"previous"})


def layout(kind: str) -> Layout:
    """The workbook layout of ``kind``, read off its instance model."""
    from optimizer.registry import KINDS

    model = KINDS[kind].instance_model
    document: list[Column] = []
    sheets: list[Sheet] = []
    fields = sorted(_fields(model), key=lambda f: f[0] != "kind")  # kind first: it says the rest
    for key, info in fields:
        if key in NOT_IN_WORKBOOKS:
            continue
        what, tp = _classify(info.annotation)
        if what != "sheet":
            document += _columns([(key, info)], (), "", None)
            continue
        top = Sheet(key[:31], key, [], info.is_required(), description=info.description or "")
        children: list[Sheet] = []
        top.columns = _columns(_fields(tp), (), key, children if "id" in tp.model_fields else None)
        for child in children:
            child.parent = top
        sheets += [top, *children]
    for column in document:
        if column.name == "options.solver":  # the one option whose values depend on the kind
            column.choices = tuple(KINDS[kind].solvers)
    return Layout(kind, document, sheets)


# ---------------------------------------------------------------- values and cells


class _BadCell(ValueError):
    """A cell whose text cannot be read as its column's kind of value."""


_EMPTY = object()


def _text_of_number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _scalar_from_cell(value: Any, tp: Any) -> Any:
    """The JSON value of one cell for a field of type ``tp``; what cannot be converted is
    passed on as it is, for validation to name what is wrong with it."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return _EMPTY
    is_datetime = tp in (AwareDatetime, NaiveDatetime) or (
        isinstance(tp, type) and issubclass(tp, datetime)
    )
    if isinstance(value, datetime):
        if is_datetime:
            return value.isoformat()  # a spreadsheet's own dates have no offset: named later
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "yes", "y", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "n", "0"):
            return False
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        return value
    if tp is int and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return value
        return value
    if tp is float and not isinstance(value, bool):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        # A number typed into a text column (an id such as 101) is that text.
        is_text = typing.get_origin(tp) is Literal or (isinstance(tp, type) and issubclass(tp, str))
        return _text_of_number(value) if is_text else value
    return value


def _json_cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _BadCell(f"not valid JSON: {exc}") from None


def _from_cell(value: Any, column: Column) -> Any:
    """The JSON value of a cell of ``column``, :data:`_EMPTY` for an empty cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _EMPTY
    if column.cell == "scalar":
        return _scalar_from_cell(value, column.base)
    text = value.strip() if isinstance(value, str) else _text_of_number(value)
    if column.cell == "json" or text[0] in "[{":
        return _json_cell(text)
    if column.cell == "list":
        return [_scalar_from_cell(part.strip(), column.base) for part in text.split(",")]
    if column.cell == "pairs":
        return [
            [_scalar_from_cell(x.strip(), column.base) for x in pair.split(",")]
            for pair in text.split(";")
            if pair.strip()
        ]
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, colon, number = part.rpartition(":")
        if not colon or not key.strip():
            raise _BadCell(f"{part!r} is not 'key: value'")
        out[key.strip()] = _scalar_from_cell(number.strip(), column.base)
    return out


def _plain_text(value: Any, separators: str) -> bool:
    return (
        isinstance(value, str)
        and value == value.strip()
        and value != ""
        and not any(s in value for s in separators)
        and value[0] not in "[{"
    )


def _to_cell(value: Any, column: Column) -> Any:
    """What a cell of ``column`` holds for the JSON ``value`` (None: an empty cell)."""
    if value is None:
        return None
    if column.cell == "scalar":
        if isinstance(value, float) and float(f"{value:.16g}") != value:
            return repr(value)  # workbooks keep 16 digits; the text keeps the exact number
        return value
    if column.cell == "list" and value and all(_plain_text(x, ",") for x in value):
        return ", ".join(value)
    if (
        column.cell == "pairs"
        and value
        and all(isinstance(p, list) and all(_plain_text(x, ",;") for x in p) for p in value)
    ):
        return "; ".join(", ".join(p) for p in value)
    if (
        column.cell == "mapping"
        and value
        and all(_plain_text(k, ",:") for k in value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    ):
        return ", ".join(f"{k}: {v!r}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False)


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = data
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return None
        current = current[key]
    return current


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


# ---------------------------------------------------------------- writing


def _type_name(column: Column) -> str:
    base = column.base
    if typing.get_origin(base) is Literal or (column.choices and base is not bool):
        name = "one of " + ", ".join(column.choices or _choices(base))
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
    from openpyxl.styles import Font
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
            value = _to_cell(_get(data, column.path), column)
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
            row += [_to_cell(_get(item, c.path), c) for c in sheet.columns]
            ws.append(row)
            finish_row(ws)
    notes_ws = book.create_sheet(NOTES_SHEET)
    for row in notes:
        notes_ws.append(row)
    notes_ws.column_dimensions["A"].width = 24
    notes_ws.column_dimensions["B"].width = 28
    notes_ws.column_dimensions["C"].width = 100
    for sheet_ws in book.worksheets:
        for cell in sheet_ws[1]:
            cell.font = Font(bold=True)
        sheet_ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


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


# ---------------------------------------------------------------- reading


class SheetIssue(Issue):
    """An issue of a document read from a workbook, with the cell it came from."""

    sheet: str | None = None
    row: int | None = None
    column: str | None = None


@dataclass
class CellRef:
    sheet: str | None
    row: int | None = None
    column: str | None = None

    def prefix(self) -> str:
        parts = [f"sheet {self.sheet}"] if self.sheet else []
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts)


@dataclass
class WorkbookImport:
    """A workbook read: the document it holds (None if none could be read) and its issues,
    errors and warnings, each naming its sheet, row and column."""

    document: dict[str, Any] | None
    issues: list[SheetIssue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.document is not None and not any(i.severity == "error" for i in self.issues)


class _Reader:
    def __init__(self, max_rows: int | None):
        self.issues: list[SheetIssue] = []
        self.where: dict[str, CellRef] = {}
        self.bad_paths: set[str] = set()
        self.rows_left = max_rows

    def issue(self, code: str, ref: CellRef, detail: str, path: str = "") -> None:
        text = f"{ref.prefix()}: {detail}" if ref.prefix() else detail
        self.issues.append(
            SheetIssue(
                code=code, path=path, detail=text, sheet=ref.sheet, row=ref.row, column=ref.column
            )
        )

    def cell(self, value: Any, column: Column, ref: CellRef, path: str) -> Any:
        try:
            return _from_cell(value, column)
        except _BadCell as exc:
            self.bad_paths.add(path)
            self.issue("bad_cell", ref, f"{column.name}: {exc}", path)
            return _EMPTY

    def locate(self, path: str) -> CellRef | None:
        while path:
            if path in self.where:
                return self.where[path]
            # Up one level: "requests[3].steps[0].instruments[1]" -> "...steps[0].instruments".
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return None
            path = path[:cut]
        return None


def _rows(ws: Any) -> list[tuple[int, tuple[Any, ...]]]:
    return [
        (number, row)
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1)
        if any(v is not None and not (isinstance(v, str) and not v.strip()) for v in row)
    ]


def _read_document(reader: _Reader, ws: Any, shape: Layout, data: dict[str, Any]) -> None:
    columns = {c.name: c for c in shape.document}
    seen: dict[str, int] = {}
    for number, row in _rows(ws)[1:]:
        name = str(row[0]).strip() if row and row[0] is not None else ""
        value = row[1] if len(row) > 1 else None
        column = columns.get(name)
        if column is None:
            if name or value is not None:
                reader.issue(
                    "unknown_field",
                    CellRef(DOCUMENT_SHEET, number, "field"),
                    f"{name or '(empty)'} is not a field of a {shape.kind} document"
                    + did_you_mean(name, columns),
                    name,
                )
            continue
        path = ".".join(column.path)
        ref = CellRef(DOCUMENT_SHEET, number, "value")
        if name in seen:
            reader.issue(
                "duplicate_field", ref, f"{name} is given again (first in row {seen[name]})", path
            )
            continue
        seen[name] = number
        reader.where[path] = ref
        for cut in range(1, len(column.path)):  # "horizon is required" names its first row
            reader.where.setdefault(".".join(column.path[:cut]), ref)
        converted = reader.cell(value, column, ref, path)
        if converted is not _EMPTY:
            _put(data, column.path, converted)


def _read_sheet(
    reader: _Reader, ws: Any, sheet: Sheet, data: dict[str, Any], parent_rows: dict[int, int]
) -> dict[int, int]:
    """Append the rows of ``sheet`` to ``data``; returns entry index -> row number."""
    rows = _rows(ws)
    columns = {c.name: c for c in sheet.columns}
    header = rows[0][1] if rows and rows[0][0] == 1 else ()
    if rows and not header:
        reader.issue(
            "missing_column",
            CellRef(sheet.name, 1),
            f"row 1 of sheet {sheet.name} must hold the column names: {', '.join(sheet.headers)}",
        )
        return {}
    by_index: dict[int, Column | str] = {}
    for i, name in enumerate(header):
        if name is None or not str(name).strip():
            continue
        text = str(name).strip()
        if text == sheet.key:
            by_index[i] = text
        elif text in columns:
            by_index[i] = columns[text]
        else:
            reader.issue(
                "unknown_column",
                CellRef(sheet.name, 1, text),
                f"{text} is not a column of sheet {sheet.name}" + did_you_mean(text, sheet.headers),
            )
    if sheet.key is not None and rows and sheet.key not in by_index.values():
        reader.issue(
            "missing_column",
            CellRef(sheet.name, 1, sheet.key),
            f"sheet {sheet.name} needs a column {sheet.key} naming the entry of "
            f"sheet {sheet.parent.name if sheet.parent else ''} each row belongs to",
        )
        return {}
    parents: dict[str, int] = {}
    if sheet.parent is not None:
        for index, entry in enumerate(data.get(sheet.parent.field) or []):
            if isinstance(entry.get("id"), str):
                parents.setdefault(entry["id"], index)
            reader.where.setdefault(
                f"{sheet.parent.field}[{index}].{sheet.field}",
                CellRef(sheet.parent.name, parent_rows.get(index)),
            )
    else:
        reader.where.setdefault(sheet.field, CellRef(sheet.name))
    numbers: dict[int, int] = {}
    for number, row in rows[1:]:
        if reader.rows_left is not None:
            reader.rows_left -= 1
            if reader.rows_left < 0:
                reader.issue(
                    "too_many_rows",
                    CellRef(sheet.name, number),
                    "the workbook has more rows than this reader accepts",
                )
                return numbers
        if sheet.parent is None:
            entries = data.setdefault(sheet.field, [])
            list_path = sheet.field
        else:
            key_index = next(i for i, c in by_index.items() if c == sheet.key)
            owner = row[key_index] if key_index < len(row) else None
            ref = CellRef(sheet.name, number, sheet.key)
            if owner is None or not str(owner).strip():
                reader.issue("missing_field", ref, f"{sheet.key} is required")
                continue
            owner_id = (
                _text_of_number(owner) if isinstance(owner, int | float) else str(owner).strip()
            )
            if owner_id not in parents:
                reader.issue(
                    "unknown_reference",
                    ref,
                    f"no row of sheet {sheet.parent.name} has id {owner_id!r}"
                    + did_you_mean(owner_id, parents),
                )
                continue
            parent_index = parents[owner_id]
            entries = data[sheet.parent.field][parent_index].setdefault(sheet.field, [])
            list_path = f"{sheet.parent.field}[{parent_index}].{sheet.field}"
        item: dict[str, Any] = {}
        index = len(entries)
        entries.append(item)
        numbers[index] = number
        reader.where[f"{list_path}[{index}]"] = CellRef(sheet.name, number)
        for i, column in by_index.items():
            if isinstance(column, str):
                continue
            path = f"{list_path}[{index}].{column.name}"
            ref = CellRef(sheet.name, number, column.name)
            reader.where[path] = ref
            converted = reader.cell(row[i] if i < len(row) else None, column, ref, path)
            if converted is not _EMPTY:
                _put(item, column.path, converted)
        for column in sheet.columns:  # required columns the header lacks
            path = f"{list_path}[{index}].{column.name}"
            reader.where.setdefault(path, CellRef(sheet.name, number, column.name))
    return numbers


def _unzipped_size(raw: bytes) -> int:
    """What the workbook's parts take once unpacked, as its zip directory declares (reading
    a part never yields more than its declared size)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return sum(info.file_size for info in archive.infolist())


def read_workbook(
    raw: bytes,
    *,
    kind: str | None = None,
    max_rows: int | None = None,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
) -> WorkbookImport:
    """The instance document a workbook holds, checked by the normal parse path, with every
    issue naming its sheet, row and column. ``kind``, when given, is the kind expected."""
    from openpyxl import load_workbook

    from optimizer.core.documents import parse_document
    from optimizer.registry import KINDS

    reader = _Reader(max_rows)
    try:
        unzipped = _unzipped_size(raw)
    except zipfile.BadZipFile:
        reader.issue("not_xlsx", CellRef(None), "the file is not an XLSX workbook (not a zip)")
        return WorkbookImport(None, reader.issues)
    if unzipped > max_unzipped_bytes:
        reader.issue(
            "too_large",
            CellRef(None),
            f"the workbook unpacks to {unzipped} bytes; at most {max_unzipped_bytes} are read",
        )
        return WorkbookImport(None, reader.issues)
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except zipfile.BadZipFile:
        reader.issue("not_xlsx", CellRef(None), "the file is not an XLSX workbook (not a zip)")
        return WorkbookImport(None, reader.issues)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        reader.issue("not_xlsx", CellRef(None), f"the file is not a readable XLSX workbook: {exc}")
        return WorkbookImport(None, reader.issues)
    try:
        return _read_book(reader, book, kind, KINDS, parse_document)
    except Exception as exc:  # our own bug, or a workbook part we do not expect: never a crash
        log.exception("reading a workbook failed")
        reader.issue(
            "unreadable_workbook",
            CellRef(None),
            f"the workbook could not be read: {type(exc).__name__}: {exc}",
        )
        return WorkbookImport(None, reader.issues)
    finally:
        book.close()


def _read_book(
    reader: _Reader, book: Any, kind: str | None, kinds: dict[str, Any], parse: Any
) -> WorkbookImport:
    names = list(book.sheetnames)
    stated: Any = None
    if DOCUMENT_SHEET in names:
        for number, row in _rows(book[DOCUMENT_SHEET]):
            if row and row[0] is not None and str(row[0]).strip() == "kind":
                stated = row[1] if len(row) > 1 else None
                reader.where["kind"] = CellRef(DOCUMENT_SHEET, number, "value")
                break
    stated = stated.strip() if isinstance(stated, str) else stated
    chosen = stated or kind
    where_kind = reader.where.get("kind", CellRef(DOCUMENT_SHEET))
    if kind is not None and stated and stated != kind:
        reader.issue(
            "wrong_kind", where_kind, f"the workbook is a {stated} document, not {kind}", "kind"
        )
        return WorkbookImport(None, reader.issues)
    if chosen not in kinds:
        detail = (
            f"kind = {chosen!r} is not one of {', '.join(sorted(kinds))}"
            + did_you_mean(chosen, kinds)
            if chosen
            else f"the kind is required: a row 'kind' in sheet {DOCUMENT_SHEET}"
        )
        reader.issue("unknown_kind" if chosen else "missing_field", where_kind, detail, "kind")
        return WorkbookImport(None, reader.issues)
    shape = layout(chosen)
    known = {DOCUMENT_SHEET, NOTES_SHEET, *(s.name for s in shape.sheets)}
    for name in names:
        if name not in known:
            reader.issue(
                "unknown_sheet",
                CellRef(name),
                f"{name} is not a sheet of a {chosen} workbook" + did_you_mean(name, known),
            )
    data: dict[str, Any] = {"kind": chosen}
    if DOCUMENT_SHEET in names:
        _read_document(reader, book[DOCUMENT_SHEET], shape, data)
    data["kind"] = chosen
    rows_of: dict[str, dict[int, int]] = {}
    for sheet in shape.sheets:
        parent_rows = rows_of.get(sheet.parent.name, {}) if sheet.parent else {}
        if sheet.name in names:
            rows_of[sheet.name] = _read_sheet(reader, book[sheet.name], sheet, data, parent_rows)
        elif sheet.parent is None:
            reader.where.setdefault(sheet.field, CellRef(sheet.name))
    parsed = parse(data)
    for issue in [*parsed.issues, *parsed.warnings]:
        if issue.path in reader.bad_paths:
            continue  # already named as a cell that could not be read
        ref = reader.locate(issue.path) or CellRef(None)
        prefix = ref.prefix()
        reader.issues.append(
            SheetIssue(
                **{
                    **issue.model_dump(),
                    "detail": f"{prefix}: {issue.detail}" if prefix else issue.detail,
                },
                sheet=ref.sheet,
                row=ref.row,
                column=ref.column,
            )
        )
    return WorkbookImport(data, reader.issues)
