"""CSV, XLSX and iCalendar exports of the shipped examples' plans: one row per item of the
solution payload, one VEVENT per booking at the booking's instant."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from openpyxl import load_workbook

from optimizer.core.documents import solve_document
from optimizer.core.exports import (
    ExportError,
    NotAvailable,
    export,
    file_stem,
    plan_table,
    to_csv,
    to_ics,
    to_xlsx,
)
from tests.exports.helpers import REPO_ROOT, examples, instance, solution

# What each kind's plan holds: (list in the payload, status of its rows, id fields),
# for the items kept and the ones left out.
ITEMS = {
    "pairs": ("paired", ("a", "b")),
    "unmatched": ("unmatched", None),
    "groups": ("grouped", None),
    "ungrouped": ("ungrouped", None),
    "bookings": ("booked", ("request", "step", "instrument")),
    "unscheduled": ("unscheduled", None),
    "loans": ("lent", ("request", "copy")),
    "unfilled": ("unfilled", None),
}


def csv_records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_rows(payload: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(status, key) of every item of the payload, in the order the export promises."""
    kept: list[tuple[str, tuple[str, ...]]] = []
    left: list[tuple[str, tuple[str, ...]]] = []
    for name, items in payload.items():
        if name == "runs":
            continue  # courier runs are read off the loans' columns (contract 8.7)
        status, fields = ITEMS[name]
        for item in items:
            if name == "groups":
                kept += [(status, (item["id"], m)) for m in item["members"]]
            elif fields is None:
                left.append((status, (item,)))
            else:
                kept.append((status, tuple(str(item[f]) for f in fields)))
    return kept + left


def row_key(row: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    status = row["status"]
    if status == "paired":
        return status, (row["a"], row["b"])
    if status == "grouped":
        return status, (row["group"], row["institution"])
    if status == "booked":
        return status, (row["request"], row["step"], row["instrument"])
    if status == "lent":
        return status, (row["request"], row["copy"])
    if status in ("unmatched",):
        return status, (row["a"],)
    if status == "ungrouped":
        return status, (row["institution"],)
    return status, (row["request"],)


@pytest.mark.parametrize("path", examples())
def test_csv_rows_match_the_solution_items_one_to_one(path: Path) -> None:
    sol, inst = solution(path), instance(path)
    rows = csv_records(to_csv(sol, inst))
    assert [row_key(r) for r in rows] == expected_rows(sol["solution"])
    # The workbook's plan sheet holds the same rows.
    book = load_workbook(io.BytesIO(to_xlsx(sol, inst)), read_only=True)
    plan = [
        ["" if v is None else str(v) for v in row]
        for row in book["plan"].iter_rows(values_only=True)
    ]
    assert plan[0] == list(rows[0].keys())
    assert len(plan) - 1 == len(rows)
    assert [r[0] for r in plan[1:]] == [r["status"] for r in rows]
    summary = dict(book["summary"].iter_rows(values_only=True))
    assert summary["status"] == sol["status"]
    # A workbook keeps 16 significant digits.
    assert summary["objective"] == pytest.approx(sol["objective"], rel=1e-15)


@pytest.mark.parametrize("path", examples("matching"))
def test_matching_rows_carry_names_regions_and_score_terms(path: Path) -> None:
    sol, inst = solution(path), instance(path)
    names = {x["id"]: (x.get("name") or "", x.get("region") or "") for x in inst["institutions"]}
    rows = csv_records(to_csv(sol, inst))
    for row in rows:
        iid = row.get("a") or row.get("institution")
        assert (row.get("a_name", row.get("name")), row.get("a_region", row.get("region"))) == (
            names[iid]
        )
    pairs = sol["solution"].get("pairs", [])
    for row, pair in zip(rows, pairs, strict=False):
        assert float(row["score"]) == pytest.approx(pair["score"], abs=0)
        if "breakdown" in pair:
            assert float(row["need"]) == pair["breakdown"]["need"]
    # Without the instance the ids are still there, the names empty.
    bare = csv_records(to_csv(sol, None))
    assert [row_key(r) for r in bare] == [row_key(r) for r in rows]
    assert all(not (r.get("a_name") or r.get("name")) for r in bare)


@pytest.mark.parametrize("path", examples("loans"))
def test_loan_rows_name_the_borrower_and_the_dates(path: Path) -> None:
    sol, inst = solution(path), instance(path)
    borrower = {r["id"]: r["library"] for r in inst["requests"]}
    rows = [r for r in csv_records(to_csv(sol, inst)) if r["status"] == "lent"]
    for row, loan in zip(rows, sol["solution"]["loans"], strict=True):
        assert row["borrower"] == borrower[loan["request"]]
        assert (row["ship"], row["arrive"], row["due_back"]) == (
            loan["ship"],
            loan["arrive"],
            loan["due_back"],
        )
        assert int(row["late_days"]) == loan["late_days"] and float(row["cost"]) == loan["cost"]


def parsed_events(raw: bytes) -> list[Any]:
    return list(Calendar.from_ical(raw).walk("VEVENT"))


@pytest.mark.parametrize("path", examples("instruments"))
def test_ics_has_one_event_per_booking_at_its_instant(path: Path) -> None:
    sol, inst = solution(path), instance(path)
    bookings = sol["solution"]["bookings"]
    events = parsed_events(to_ics(sol, inst))
    assert len(events) == len(bookings) > 0
    by_uid = {str(e["uid"]): e for e in events}
    assert len(by_uid) == len(events), "uids are unique"
    for b in bookings:
        event = by_uid[f"{b['request']}.{b['step']}.{b['instrument']}@{sol['name']}.unishare"]
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.utcoffset() is not None
        # The same instant as the booking's, which is written in the horizon's offset.
        assert start == datetime.fromisoformat(b["start"])
        assert end == datetime.fromisoformat(b["end"])
        assert start.tzinfo is not None and start.utcoffset() == UTC.utcoffset(None)
        assert f"on {b['instrument']}" in str(event["description"])


@pytest.mark.parametrize("path", examples("instruments"))
def test_ics_per_instrument_and_per_institution(path: Path) -> None:
    sol, inst = solution(path), instance(path)
    bookings = sol["solution"]["bookings"]
    institution = {r["id"]: r["institution"] for r in inst["requests"]}
    for iid in {b["instrument"] for b in bookings}:
        events = parsed_events(to_ics(sol, inst, {"instrument": iid}))
        assert len(events) == sum(b["instrument"] == iid for b in bookings)
    for who in set(institution.values()):
        events = parsed_events(to_ics(sol, inst, {"institution": who}))
        wanted = sorted(
            f"{b['request']}.{b['step']}" for b in bookings if institution[b["request"]] == who
        )
        assert sorted(str(e["uid"]).rsplit(".", 1)[0].rsplit(".", 1)[0] for e in events) == wanted
    assert parsed_events(to_ics(sol, inst, {"instrument": "no-such"})) == []
    # The requesting institution is only in the instance.
    with pytest.raises(ExportError, match="institution"):
        to_ics(sol, None, {"institution": "scu"})


def test_kinds_without_dated_items_have_no_calendar() -> None:
    [path, *_] = [p.values[0] for p in examples("matching") if not p.marks]
    with pytest.raises(NotAvailable, match="matching"):
        export("ics", solution(path), instance(path))
    with pytest.raises(ExportError, match="format"):
        export("pdf", solution(path), instance(path))


def test_a_solution_without_a_plan_cannot_be_exported() -> None:
    document = {"kind": "loans", "name": "x", "status": "invalid", "solution": None}
    with pytest.raises(ExportError, match="invalid"):
        plan_table(document, None)
    with pytest.raises(ExportError, match="not a kind"):
        plan_table({"kind": "nope", "status": "optimal", "solution": {}}, None)


def test_file_stem_is_safe() -> None:
    assert file_stem({"name": "small-two-days"}) == "small-two-days"
    assert file_stem({"name": "../../etc/passwd"}) == "etc-passwd"
    assert file_stem({"name": None}, "job-1") == "job-1"
    assert file_stem({"name": "成渝 week"}) == "成渝-week"


def _sheet_records(book: Any, name: str) -> list[dict[str, Any]]:
    rows = list(book[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_a_courier_plan_workbook_has_its_runs_each_leg_counted_once() -> None:
    """Sheet ``runs`` of the contract's courier example: one row per run of the solution,
    with its courier's route and capacity, and the items on them are the loans' legs
    counted from sheet ``plan``: every loan rides one run out and one back."""
    from tests.loans.test_couriers import contract_example

    doc = contract_example()
    sol = solve_document(doc, overrides={"time_limit_s": 5, "threads": 1}).model_dump(mode="json")
    book = load_workbook(io.BytesIO(to_xlsx(sol, doc)))
    assert book.sheetnames == ["plan", "runs", "summary", "explanations"]
    runs = _sheet_records(book, "runs")
    assert [(r["courier"], r["day"]) for r in runs] == [
        (run["courier"], run["day"]) for run in sol["solution"]["runs"]
    ]
    couriers = {c["id"]: c for c in doc["couriers"]}
    for r in runs:
        courier = couriers[r["courier"]]
        assert (r["from"], r["to"], r["capacity"]) == (
            courier["from"],
            courier["to"],
            courier["capacity"],
        )
        assert r["cost"] == courier["cost_per_run"]
    legs: dict[tuple[str, str], int] = {}
    for loan in _sheet_records(book, "plan"):
        if loan["status"] == "lent":
            out = (loan["courier"], loan["ship"])
            back = (loan["return_courier"], loan["return_ship"])
            for leg in (out, back):
                legs[leg] = legs.get(leg, 0) + 1
    assert {(r["courier"], r["day"]): r["items"] for r in runs} == legs


def test_a_settled_plan_workbook_says_who_owes_whom() -> None:
    """With a balance price the workbook has sheets ``settlement`` and ``transfers``; each
    library's lent and received loans are recounted from sheet ``plan``, and the transfers
    pay each net borrower's debt and each net lender's credit exactly."""
    path = REPO_ROOT / "instances" / "loans" / "six-libraries.json"
    doc = instance(path)
    doc.setdefault("policies", {})["balance_price"] = 12.5
    sol = solve_document(doc, overrides={"time_limit_s": 5, "threads": 1}).model_dump(mode="json")
    book = load_workbook(io.BytesIO(to_xlsx(sol, doc)))
    assert book.sheetnames == ["plan", "settlement", "transfers", "summary", "explanations"]
    plan = [r for r in _sheet_records(book, "plan") if r["status"] == "lent"]
    libraries = _sheet_records(book, "settlement")
    assert [r["library"] for r in libraries] == [lib["id"] for lib in doc["libraries"]]
    balance: dict[str, float] = {}
    for r in libraries:
        assert r["lent"] == sum(loan["lender"] == r["library"] for loan in plan)
        assert r["received"] == sum(loan["borrower"] == r["library"] for loan in plan)
        assert r["net"] == r["lent"] - r["received"]
        assert r["amount"] == pytest.approx(12.5 * r["net"])
        balance[r["library"]] = r["amount"]
    assert any(balance.values()), "the example's plan is not balanced: something is owed"
    for t in _sheet_records(book, "transfers"):
        assert t["amount"] == pytest.approx(12.5 * t["loans"])
        balance[t["from"]] += t["amount"]
        balance[t["to"]] -= t["amount"]
    assert all(v == pytest.approx(0) for v in balance.values())
