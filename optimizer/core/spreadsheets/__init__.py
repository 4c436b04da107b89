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

from optimizer.core.spreadsheets.layout import (
    DOCUMENT_SHEET,
    MAX_UNZIPPED_BYTES,
    MEDIA_TYPE,
    NOT_IN_WORKBOOKS,
    NOTES_SHEET,
    Column,
    Layout,
    Sheet,
    layout,
)
from optimizer.core.spreadsheets.reading import CellRef, SheetIssue, WorkbookImport, read_workbook
from optimizer.core.spreadsheets.writing import template, text_not_formulas, workbook

__all__ = [
    "DOCUMENT_SHEET",
    "MAX_UNZIPPED_BYTES",
    "MEDIA_TYPE",
    "NOTES_SHEET",
    "NOT_IN_WORKBOOKS",
    "CellRef",
    "Column",
    "Layout",
    "Sheet",
    "SheetIssue",
    "WorkbookImport",
    "layout",
    "read_workbook",
    "template",
    "text_not_formulas",
    "workbook",
]
