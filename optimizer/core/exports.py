"""Solutions as files people open elsewhere: CSV, an XLSX workbook, an iCalendar file.

A kind says what the items of its plan are, as rows (its ``table`` hook) and, when they are
dated, as calendar events (its ``calendar`` hook). Everything about the file formats is here,
the same for every kind.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from optimizer.core.plans import CalendarEvent, Table

if TYPE_CHECKING:
    from optimizer.core.runner import Kind

FORMATS = ("csv", "xlsx", "ics")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ics": "text/calendar; charset=utf-8",
}


class ExportError(ValueError):
    """The export asked for cannot be made (no plan, a format the kind lacks, a bad filter)."""


class NotAvailable(ExportError):
    """The kind has no such export at all (a calendar of pairs)."""


class NoPlan(ExportError):
    """The solution document holds no plan (infeasible, invalid, no solution…)."""


def _kind_of(solution: Mapping[str, Any]) -> Kind[Any]:
    from optimizer.registry import KINDS

    kind = KINDS.get(str(solution.get("kind")))
    if kind is None:
        raise ExportError(f"kind = {solution.get('kind')!r} is not a kind this build knows")
    return kind


def _check_plan(solution: Mapping[str, Any]) -> None:
    if not isinstance(solution.get("solution"), dict):
        raise NoPlan(
            f"the solution document has status {solution.get('status')!r} and no plan to export"
        )


def plan_table(solution: Mapping[str, Any], instance: Mapping[str, Any] | None) -> Table:
    """The kind's rows of the plan in ``solution`` (a solution document)."""
    kind = _kind_of(solution)
    _check_plan(solution)
    if kind.table is None:
        raise NotAvailable(f"{kind.name} does not export its plan as rows")
    return kind.table(dict(solution), dict(instance) if instance is not None else None)


def _cell(value: Any) -> Any:
    """A value a CSV writer or a worksheet takes as it is: lists and objects as JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def to_csv(solution: Mapping[str, Any], instance: Mapping[str, Any] | None = None) -> str:
    """The plan as CSV: a header row, then one row per item (see :class:`Table`)."""
    table = plan_table(solution, instance)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()


def _summary_rows(solution: Mapping[str, Any]) -> list[tuple[str, Any]]:
    run = solution.get("run") or {}
    rows: list[tuple[str, Any]] = [
        (key, solution.get(key)) for key in ("kind", "name", "status", "objective", "bound", "gap")
    ]
    rows += [(f"run.{key}", run.get(key)) for key in ("solver", "runtime_s", "instance_sha256")]
    for key, value in (solution.get("kpis") or {}).items():
        if key != "traceback":
            rows.append((f"kpis.{key}", value))
    return rows


def to_xlsx(solution: Mapping[str, Any], instance: Mapping[str, Any] | None = None) -> bytes:
    """The plan as a workbook: sheet ``plan`` holds the rows of :func:`to_csv`, then the
    kind's further tables of the plan (its ``sheets``), ``summary`` the status, objective
    and KPIs, ``explanations`` the reasons."""
    from openpyxl import Workbook

    from optimizer.core.spreadsheets.writing import finished, text_not_formulas

    table = plan_table(solution, instance)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "plan"
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
        text_not_formulas(sheet)
    kind = _kind_of(solution)
    extra = (
        kind.sheets(dict(solution), dict(instance) if instance is not None else None)
        if kind.sheets
        else {}
    )
    for name, more in extra.items():
        sheet = book.create_sheet(name)
        sheet.append(more.columns)
        for row in more.rows:
            sheet.append([_cell(v) for v in row])
            text_not_formulas(sheet)
    summary = book.create_sheet("summary")
    summary.append(["field", "value"])
    for key, value in _summary_rows(solution):
        summary.append([key, _cell(value)])
        text_not_formulas(summary)
    explained = book.create_sheet("explanations")
    explained.append(["subject", "code", "detail", "related"])
    for e in solution.get("explanations") or []:
        related = ", ".join(e.get("related") or [])
        explained.append([e.get("subject"), e.get("code"), e.get("detail"), related])
        text_not_formulas(explained)
    return finished(book)


def calendar_events(
    solution: Mapping[str, Any],
    instance: Mapping[str, Any] | None,
    filters: Mapping[str, str | None] | None = None,
) -> list[CalendarEvent]:
    """The kind's dated items, keeping those whose facets match every filter given."""
    kind = _kind_of(solution)
    if kind.calendar is None:
        raise NotAvailable(f"{kind.name} plans have no dated items to put in a calendar")
    _check_plan(solution)
    events = kind.calendar(dict(solution), dict(instance) if instance is not None else None)
    wanted = {k: v for k, v in (filters or {}).items() if v is not None}
    for name, value in wanted.items():
        if events and all(name not in e.facets for e in events):
            known = sorted({f for e in events for f in e.facets})
            hint = " (the instance document is needed for it)" if instance is None else ""
            raise ExportError(
                f"{kind.name} events cannot be filtered by {name}{hint}; "
                f"filters: {', '.join(known) or 'none'}"
            )
        events = [e for e in events if e.facets.get(name) == value]
    return events


def _text(value: str) -> str:
    # iCalendar text may not hold control characters other than the ones it escapes.
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", value)


def to_ics(
    solution: Mapping[str, Any],
    instance: Mapping[str, Any] | None = None,
    filters: Mapping[str, str | None] | None = None,
) -> bytes:
    """One VEVENT per dated item (after ``filters``), times in UTC so that every calendar
    program places them at the same instant whatever offset the plan was written in."""
    from icalendar import Calendar, Event

    events = calendar_events(solution, instance, filters)
    cal = Calendar()
    cal.add("prodid", "-//UniShare//plan export//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    name = solution.get("name") or solution.get("kind") or "plan"
    cal.add("x-wr-calname", _text(str(name)))
    stamp = datetime.now(UTC).replace(microsecond=0)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.start.astimezone(UTC))
        event.add("dtend", item.end.astimezone(UTC))
        event.add("summary", _text(item.summary))
        if item.description:
            event.add("description", _text(item.description))
        if item.location:
            event.add("location", _text(item.location))
        if item.facets:
            event.add("categories", [_text(v) for v in item.facets.values()])
        cal.add_component(event)
    return bytes(cal.to_ical())


def export(
    fmt: str,
    solution: Mapping[str, Any],
    instance: Mapping[str, Any] | None = None,
    filters: Mapping[str, str | None] | None = None,
) -> bytes:
    """The file of format ``fmt`` (one of :data:`FORMATS`) for a solution document."""
    if fmt == "csv":
        if any(v is not None for v in (filters or {}).values()):
            raise ExportError("filters apply to the iCalendar export only")
        return to_csv(solution, instance).encode("utf-8")
    if fmt == "xlsx":
        if any(v is not None for v in (filters or {}).values()):
            raise ExportError("filters apply to the iCalendar export only")
        return to_xlsx(solution, instance)
    if fmt == "ics":
        return to_ics(solution, instance, filters)
    raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def file_stem(solution: Mapping[str, Any], fallback: str = "solution") -> str:
    """A safe file name stem for the exports of ``solution``: its name, else ``fallback``."""
    name = str(solution.get("name") or fallback)
    stem = re.sub(r"[^\w.\-]+", "-", name, flags=re.UNICODE).strip(".-")
    return stem or fallback
