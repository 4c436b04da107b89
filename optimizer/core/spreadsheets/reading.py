"""A filled workbook read back into an instance document, every issue naming its cell."""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, field
from typing import Any

from optimizer.core.issues import Issue, did_you_mean
from optimizer.core.spreadsheets.cells import (
    EMPTY,
    BadCell,
    from_cell,
    put_path,
    text_of_number,
)
from optimizer.core.spreadsheets.layout import (
    DOCUMENT_SHEET,
    MAX_UNZIPPED_BYTES,
    NOTES_SHEET,
    Column,
    Layout,
    Sheet,
    layout,
)

log = logging.getLogger(__name__)


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
            return from_cell(value, column)
        except BadCell as exc:
            self.bad_paths.add(path)
            self.issue("bad_cell", ref, f"{column.name}: {exc}", path)
            return EMPTY

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
        if converted is not EMPTY:
            put_path(data, column.path, converted)


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
                text_of_number(owner) if isinstance(owner, int | float) else str(owner).strip()
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
            if converted is not EMPTY:
                put_path(item, column.path, converted)
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
