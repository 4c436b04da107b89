"""``unishare export``, ``import`` and ``template``: thin adapters with validate's exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from icalendar import Calendar
from openpyxl import load_workbook
from typer.testing import CliRunner

from optimizer.cli import app
from optimizer.core.documents import parse_document
from tests.exports.helpers import REPO_ROOT, solution

runner = CliRunner()
SMALL = REPO_ROOT / "instances" / "instruments" / "small-two-days.json"
LOANS = REPO_ROOT / "instances" / "loans" / "six-libraries.json"


def test_template_then_import_of_an_instance_gives_it_back(tmp_path: Path) -> None:
    book = tmp_path / "six.xlsx"
    result = runner.invoke(app, ["template", "loans", "-i", str(LOANS), "-o", str(book)])
    assert result.exit_code == 0, result.output
    target = tmp_path / "six.json"
    result = runner.invoke(app, ["import", str(book), "-o", str(target)])
    assert result.exit_code == 0, result.output
    back = parse_document(target.read_bytes()).instance
    original = parse_document(LOANS.read_bytes()).instance
    assert back is not None and original is not None
    assert back.model_dump() == original.model_dump()


def test_an_empty_template_imports_as_invalid_with_cells_named(tmp_path: Path) -> None:
    book = tmp_path / "t.xlsx"
    assert runner.invoke(app, ["template", "instruments", "-o", str(book)]).exit_code == 0
    assert load_workbook(book).sheetnames[0] == "document"
    result = runner.invoke(app, ["import", str(book)])
    assert result.exit_code == 2
    assert "sheet instruments: instruments is required" in result.output
    assert not (tmp_path / "t.json").exists(), "an invalid document is not written"
    assert runner.invoke(app, ["template", "toys", "-o", str(book)]).exit_code == 2
    wrong = runner.invoke(app, ["template", "matching", "-i", str(LOANS), "-o", str(book)])
    assert wrong.exit_code == 2


def test_export_csv_xlsx_and_ics(tmp_path: Path) -> None:
    sol = tmp_path / "small.solution.json"
    document = solution(SMALL)
    sol.write_text(json.dumps(document))
    bookings = document["solution"]["bookings"]
    for fmt in ("csv", "xlsx", "ics"):
        target = tmp_path / f"plan.{fmt}"
        result = runner.invoke(app, ["export", str(sol), "-i", str(SMALL), "-o", str(target)])
        assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "plan.csv").read_text())))
    assert [r["request"] for r in rows if r["status"] == "booked"] == [
        b["request"] for b in bookings
    ]
    events = Calendar.from_ical((tmp_path / "plan.ics").read_bytes()).walk("VEVENT")
    assert len(events) == len(bookings)
    assert load_workbook(tmp_path / "plan.xlsx").sheetnames == ["plan", "summary", "explanations"]
    one = bookings[0]["instrument"]
    target = tmp_path / "one.ics"
    args = ["export", str(sol), "-o", str(target), "--instrument", one]
    assert runner.invoke(app, args).exit_code == 0
    events = Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    assert len(events) == sum(b["instrument"] == one for b in bookings)
    # Stdout, and the format named when the file name does not say it.
    result = runner.invoke(app, ["export", str(sol), "-o", "-", "--format", "csv"])
    assert result.exit_code == 0 and result.output.startswith("status,request,")
    assert runner.invoke(app, ["export", str(sol), "-o", str(tmp_path / "x.pdf")]).exit_code == 2


def test_export_refuses_what_it_cannot_make(tmp_path: Path) -> None:
    sol = tmp_path / "loans.solution.json"
    sol.write_text(json.dumps(solution(LOANS)))
    result = runner.invoke(app, ["export", str(sol), "-o", str(tmp_path / "x.ics")])
    assert result.exit_code == 2 and "no dated items" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert runner.invoke(app, ["export", str(bad), "-o", str(tmp_path / "x.csv")]).exit_code == 2
