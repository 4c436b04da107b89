"""The planner's page in headless Chromium against a real ``unishare serve``.

Each test does what a planner does — pick an example, solve, read the plan, cancel, download —
through the page's labels, roles and text, and checks what is drawn against the solution
document the API returns for the same job, and each download against it too.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import openpyxl
import pytest
from playwright.sync_api import Browser

from optimizer.core.documents import parse_document
from optimizer.core.spreadsheets import workbook
from tests.api.conftest import REPO_ROOT, Server, long_groups_instance
from tests.browser.driver import (
    API_KEY,
    DOCUMENT_LABEL,
    load_example,
    open_page,
    paste,
    solution_of,
    solve,
    table_rows,
    upload,
    wait_for,
    wait_view,
)
from tests.browser.large import large_loans, large_week, write

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a real server and a browser

PAGE_ROWS = 100  # rows on a page of the page's tables (api/static/js/table.js)


def test_page_and_its_files_need_no_key(web: Server) -> None:
    with httpx.Client(base_url=web.url, timeout=30) as anonymous:
        assert anonymous.get("/").status_code == 200
        script = anonymous.get("/page/js/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert anonymous.get("/page/../routes/page.py").status_code == 404
        assert anonymous.get("/v1/kinds").status_code == 401  # the API still wants one


def test_asks_for_the_key_once_per_session(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url, key=None)
    dialog = page.get_by_role("dialog", name="API key")
    dialog.wait_for(timeout=30_000)
    dialog.get_by_label("API key").fill(API_KEY)
    dialog.get_by_role("button", name="Use this key").click()
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert page.evaluate("sessionStorage.getItem('unishare.apiKey')") == API_KEY
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert not page.get_by_role("dialog", name="API key").is_visible()
    page.context.close()


def test_validation_issues_stand_next_to_their_field_path(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "matching/sichuan-industry")
    doc = json.loads(page.get_by_label(DOCUMENT_LABEL).input_value())
    doc["institutions"][1]["capacity"] = -1
    doc["institutions"][2]["capasity"] = 2
    paste(page, json.dumps(doc, indent=2))
    page.get_by_role("button", name="Validate").click()
    issues = page.get_by_role("table", name="Validation issues")
    issues.wait_for(timeout=30_000)
    row = issues.locator("tr", has=page.locator("code", has_text="institutions[1].capacity"))
    assert row.count() == 1
    assert "-1" in row.inner_text() and "out_of_range" in row.inner_text()
    assert issues.locator("tr", has_text="institutions[2].capasity").count() == 1
    # Solving an invalid document is refused before any job is made.
    page.get_by_role("button", name="Solve", exact=True).click()
    page.get_by_text("Fix the issues above before solving.").wait_for(timeout=30_000)
    assert page.locator("body").get_attribute("data-job") is None
    page.context.close()


def test_matching_pairs_map_table_and_provinces(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "matching/east-west-counterparts")
    job = solve(page)
    wait_view(page, job)
    solution = solution_of(web, job)
    pairs = solution["solution"]["pairs"]
    assert pairs
    assert page.locator(".pair-line").count() == len(pairs)
    assert page.locator(".inst-point").count() == 80  # every institution has a location
    assert table_rows(page, "Pairs") == len(pairs)
    assert table_rows(page, "Unmatched") == len(solution["solution"]["unmatched"])
    first = pairs[0]
    assert page.locator(f'.pair-line[data-pair="{first["a"]}–{first["b"]}"]').count() == 1
    # Names, regions and the score breakdown of the best pair are in the first row.
    doc = json.loads((REPO_ROOT / "instances/matching/east-west-counterparts.json").read_text())
    by_id = {i["id"]: i for i in doc["institutions"]}
    cells = (
        page.locator("table", has=page.locator("caption", has_text="Pairs ("))
        .locator("tbody tr")
        .first.locator("td")
        .all_inner_texts()
    )
    assert cells[:4] == [
        by_id[first["a"]]["name"],
        by_id[first["a"]]["region"],
        by_id[first["b"]]["name"],
        by_id[first["b"]]["region"],
    ]
    shown = [float(c.replace(",", "")) for c in cells[4:]]
    terms = first["breakdown"]
    expected = [first["score"], terms["need"], terms["complementarity"], terms["distance"]]
    assert shown[:4] == pytest.approx(expected, abs=1e-4)
    provinces = page.locator("table", has=page.locator("caption", has_text="per province"))
    matched = sum(
        int(r.locator("td").nth(2).inner_text().replace(",", ""))
        for r in provinces.locator("tbody tr").all()
    )
    assert matched == 80 - len(solution["solution"]["unmatched"])
    page.context.close()


def test_matching_consortia_are_coloured_hulls(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "matching/chongqing-alliance")
    job = solve(page)
    wait_view(page, job)
    groups = solution_of(web, job)["solution"]["groups"]
    assert groups
    assert page.locator(".group-hull").count() == len(groups)
    assert page.get_by_role("list", name="Map legend").locator("li").count() == len(groups) + 1
    assert table_rows(page, "Consortia") == len(groups)
    page.context.close()


def test_instruments_gantt_shows_every_booking_and_shading(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "instruments/small-two-days")
    job = solve(page)
    wait_view(page, job)
    plan = solution_of(web, job)["solution"]
    page.get_by_label("Zoom").select_option("all")
    assert page.locator(".gantt-row").count() == 4
    assert page.locator(".booking").count() == len(plan["bookings"])
    assert page.locator(".maintenance").count() >= 1
    assert page.locator(".unavailable").count() >= 1
    operated = [b for b in plan["bookings"] if b["operator"]]
    assert operated
    tooltip = page.locator(f'.booking[data-request="{operated[0]["request"]}"] title').first
    assert "operator:" in tooltip.text_content()
    assert table_rows(page, "Unscheduled requests") == len(plan["unscheduled"])
    unscheduled = page.locator("table", has=page.locator("caption", has_text="Unscheduled"))
    for request in plan["unscheduled"]:
        row = unscheduled.locator("tr", has_text=request)
        assert row.locator("td").nth(3).inner_text() not in ("", "–")  # a reason
    # A one-day window draws only the bookings that intersect that day.
    page.get_by_label("Zoom").select_option("day")
    assert page.locator(".booking").count() < len(plan["bookings"])
    page.get_by_role("button", name="Later ›").click()
    assert page.locator(".booking").count() >= 1
    page.context.close()


def test_loans_table_balance_and_unfilled(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "loans/six-libraries")
    job = solve(page)
    wait_view(page, job)
    plan = solution_of(web, job)["solution"]
    assert table_rows(page, "Loans") == len(plan["loans"])
    assert table_rows(page, "Unfilled requests") == len(plan["unfilled"])
    assert page.locator(".balance-row").count() == 6
    lent = sum(
        int(t.text_content().split("lent ")[1].split(",")[0])
        for t in page.locator(".balance-row > title").all()
    )
    assert lent == len(plan["loans"])
    page.context.close()


def test_progress_chart_and_cancel_a_long_job(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    paste(page, json.dumps(long_groups_instance(120.0), indent=2))
    job = solve(page, time_limit_s=120)
    # Live progress: improving solutions arrive over the event stream and are drawn.
    page.locator("#progress-chart .dot-objective").first.wait_for(timeout=90_000)
    page.locator("#progress-chart path.line-gap").wait_for(timeout=90_000)  # CP-SAT has a bound
    assert page.locator("#progress-figures").get_by_text("%").count() == 1  # the gap figure
    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("status").filter(has_text="cancel").wait_for(timeout=30_000)
    with web.client() as client:
        final = wait_for(
            lambda: (
                (j := client.get(f"/v1/jobs/{job}").json())["status"]
                in ("cancelled", "succeeded", "failed")
                and j
            ),
            60,
            "the cancelled job to finish",
        )
    assert final["status"] == "cancelled"
    assert final["cancel_requested"] is True
    page.context.close()


def test_earlier_jobs_are_listed_and_reopened(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "loans/six-libraries")
    job = solve(page)
    wait_view(page, job)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    row = page.locator(f'tr[data-job="{job}"]')
    assert "succeeded" in row.inner_text() and "six-libraries-december" in row.inner_text()
    objective = solution_of(web, job)["objective"]
    row.locator("td.num").filter(has_text=f"{objective:,g}").wait_for(timeout=30_000)
    row.get_by_role("button", name="Open job").click()
    wait_view(page, job)
    # The document was kept in this browser, so names and balances are drawn again.
    assert page.locator(".balance-row").count() == 6
    page.context.close()


def test_download_the_solution_as_json(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "instruments/small-two-days")
    job = solve(page)
    wait_view(page, job)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download JSON").click()
    saved = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert saved == solution_of(web, job)
    page.context.close()


def test_download_the_loans_as_csv(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "loans/six-libraries")
    job = solve(page)
    wait_view(page, job)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    assert info.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8-sig"))))
    plan = solution_of(web, job)["solution"]
    # One row per item of the plan: each loan, then each unfilled request.
    assert len(rows) == len(plan["loans"]) + len(plan["unfilled"])
    lent = {r["request"]: r for r in rows if r["request"] not in plan["unfilled"]}
    assert set(lent) == {loan["request"] for loan in plan["loans"]}
    for loan in plan["loans"]:
        assert lent[loan["request"]]["copy"] == loan["copy"]
    page.context.close()


def test_download_an_instrument_calendar(browser: Browser, web: Server) -> None:
    page = open_page(browser, web.url)
    load_example(page, "instruments/small-two-days")
    job = solve(page)
    wait_view(page, job)
    bookings = solution_of(web, job)["solution"]["bookings"]
    instrument = bookings[0]["instrument"]
    page.get_by_label("Calendar for").select_option(f"instrument={instrument}")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download iCalendar").click()
    text = Path(info.value.path()).read_text("utf-8")
    assert text.count("BEGIN:VEVENT") == sum(b["instrument"] == instrument for b in bookings)
    page.context.close()


def test_spreadsheet_template_and_import(browser: Browser, web: Server, tmp_path: Path) -> None:
    page = open_page(browser, web.url)
    page.get_by_label("Kind of a spreadsheet").select_option("matching")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download spreadsheet template").click()
    template = tmp_path / "matching-template.xlsx"
    info.value.save_as(template)
    assert template.read_bytes()[:2] == b"PK"  # a zip: an XLSX workbook
    upload(page, template)
    # The imported document lands in the editor, its issues (if any) beside their paths.
    page.get_by_text("Imported from matching-template.xlsx").wait_for(timeout=30_000)
    doc = json.loads(page.get_by_label(DOCUMENT_LABEL).input_value())
    assert doc["kind"] == "matching"
    page.context.close()


def test_a_workbook_of_an_example_imports_to_the_same_instance(
    browser: Browser, web: Server, tmp_path: Path
) -> None:
    source = (REPO_ROOT / "instances/matching/sichuan-industry.json").read_bytes()
    original = parse_document(source)
    assert original.instance is not None
    path = tmp_path / "sichuan-industry.xlsx"
    path.write_bytes(workbook(original.instance))
    page = open_page(browser, web.url)
    page.get_by_label("Kind of a spreadsheet").select_option("matching")
    upload(page, path)
    page.get_by_text("Imported from sichuan-industry.xlsx").wait_for(timeout=30_000)
    page.locator("#issues").get_by_text("Valid").wait_for(timeout=30_000)
    imported = parse_document(page.get_by_label(DOCUMENT_LABEL).input_value().encode())
    assert imported.instance == original.instance
    # Solved from the spreadsheet, the plan is drawn like any other.
    job = solve(page)
    wait_view(page, job)
    assert page.locator(".pair-line").count() == len(solution_of(web, job)["solution"]["pairs"])
    page.context.close()


def test_large_plans_are_paged_and_windowed(browser: Browser, web: Server, tmp_path: Path) -> None:
    """A 1,000-request week and a 20,000-request loans batch: the Gantt draws one day's
    bookings, the loans table one page of rows, and both still account for every item."""
    page = open_page(browser, web.url)
    upload(page, write(large_week(), tmp_path))
    page.locator("#issues").get_by_text("Valid").wait_for(timeout=120_000)
    job = solve(page)
    wait_view(page, job)
    solution = solution_of(web, job)
    bookings = solution["solution"]["bookings"]
    assert len(bookings) > 500
    start = datetime.fromisoformat(large_week()["horizon"]["start"])
    day = [b for b in bookings if datetime.fromisoformat(b["start"]) < start + timedelta(days=1)]
    assert page.get_by_label("Zoom").input_value() == "day"  # a busy week opens on one day
    assert page.locator(".booking").count() == len(day) < len(bookings)
    assert table_rows(page, "Bookings") == len(bookings)
    assert (
        page.locator("table", has=page.locator("caption", has_text="Bookings"))
        .locator("tbody tr")
        .count()
        == PAGE_ROWS
    )

    upload(page, write(large_loans(), tmp_path))
    page.locator("#issues").get_by_text("Valid").wait_for(timeout=120_000)
    job = solve(page)
    wait_view(page, job)
    plan = solution_of(web, job)["solution"]
    assert len(plan["loans"]) > 10_000
    loans = page.locator("table", has=page.locator("caption", has_text="Loans ("))
    assert loans.locator("tbody tr").count() == PAGE_ROWS
    assert table_rows(page, "Loans (") == len(plan["loans"])
    page.get_by_role("button", name="Next page of Loans").click()
    assert (
        loans.locator("tbody tr").first.locator("td").first.inner_text()
        == (plan["loans"][PAGE_ROWS]["request"])
    )
    page.context.close()


def test_a_broken_workbook_names_the_cell_beside_the_field_path(
    browser: Browser, web: Server, tmp_path: Path
) -> None:
    original = parse_document((REPO_ROOT / "instances/matching/sichuan-industry.json").read_bytes())
    assert original.instance is not None
    book = openpyxl.load_workbook(io.BytesIO(workbook(original.instance)))
    sheet = book["institutions"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=header.index("capacity") + 1, value=-1)  # the second institution
    path = tmp_path / "broken.xlsx"
    book.save(path)
    page = open_page(browser, web.url)
    page.get_by_label("Kind of a spreadsheet").select_option("matching")
    upload(page, path)
    issues = page.get_by_role("table", name="Validation issues")
    issues.wait_for(timeout=30_000)
    row = issues.locator("tr", has=page.locator("code", has_text="institutions[1].capacity"))
    assert row.count() == 1
    assert "row 3" in row.locator("td").nth(4).inner_text()  # the detail names the cell
    assert row.locator("td").nth(5).inner_text() == "institutions, row 3, capacity"
    page.get_by_role("button", name="Solve", exact=True).click()
    page.get_by_text("Fix the issues above before solving.").wait_for(timeout=30_000)
    page.context.close()
