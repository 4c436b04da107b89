"""What a consortium's coordinator reads on the loans view beyond the loans themselves: who
owes whom when lending is compensated (contract 7.8), and the courier runs a plan uses (7.7).

Each table is read off the page and checked against the plan recounted from its loans, not
against the fields the page drew it from.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.api.conftest import REPO_ROOT, Server
from tests.browser.driver import open_page, paste, solution_of, solve, wait_view

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a real server and a browser

LOANS = REPO_ROOT / "instances" / "loans"


def table_cells(page: Page, caption: str) -> list[list[str]]:
    """The cells of the first page of the table captioned ``caption…``, row by row."""
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    return [
        [cell.inner_text().strip() for cell in row.locator("td").all()]
        for row in table.locator("tbody tr").all()
    ]


def amount(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_settlement_says_who_owes_whom(browser: Browser, web: Server) -> None:
    doc = json.loads((LOANS / "six-libraries.json").read_text(encoding="utf-8"))
    doc.setdefault("policies", {})["balance_price"] = 12.5
    page = open_page(browser, web.url)
    paste(page, json.dumps(doc, indent=2))
    job = solve(page)
    wait_view(page, job)
    plan = solution_of(web, job)["solution"]
    borrower = {q["id"]: q["library"] for q in doc["requests"]}
    net: Counter[str] = Counter()
    for loan in plan["loans"]:
        net[loan["lender"]] += 1
        net[borrower[loan["request"]]] -= 1
    assert any(net.values()), "the example must leave some library out of balance"

    library = {lib.get("name", lib["id"]): lib["id"] for lib in doc["libraries"]}
    rows = table_cells(page, "Settlement at 12.5 per net loan")
    paid: Counter[str] = Counter()
    for payer, payee, loans, money in rows:
        assert amount(money) == pytest.approx(12.5 * int(loans))
        paid[library[payer]] -= int(loans)
        paid[library[payee]] += int(loans)
    assert +paid == +net and -paid == -net  # every net lender paid, every net borrower paying
    page.context.close()


def with_couriers(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a courier each way on every shipping route, twice a week."""
    couriers = []
    for route in doc["shipping"]:
        for a, b, weekdays in (
            (route["from"], route["to"], [1, 4]),
            (route["to"], route["from"], [2, 5]),
        ):
            couriers.append(
                {"id": f"{a}>{b}", "from": a, "to": b, "weekdays": weekdays, "days": route["days"],
                 "capacity": 3, "cost_per_run": 4 * route["cost"]}
            )  # fmt: skip
    return {**doc, "couriers": couriers, "handling_cost": 0.5}


def test_the_courier_runs_are_the_runs_the_loans_ride(browser: Browser, web: Server) -> None:
    doc = with_couriers(json.loads((LOANS / "six-libraries.json").read_text(encoding="utf-8")))
    page = open_page(browser, web.url)
    paste(page, json.dumps(doc, indent=2))
    job = solve(page)
    wait_view(page, job)
    plan = solution_of(web, job)["solution"]
    assert plan["loans"], "the example must lend something"
    legs: Counter[tuple[str, str]] = Counter()
    for loan in plan["loans"]:
        legs[loan["courier"], loan["ship"]] += 1
        legs[loan["return_courier"], loan["return_ship"]] += 1
    capacity = {c["id"]: c["capacity"] for c in doc["couriers"]}

    rows = table_cells(page, "Courier runs")
    shown = Counter(
        {(courier, day): int(items.split(" of ")[0]) for courier, _, day, items, _ in rows}
    )
    assert shown == legs
    for courier, _, _, items, _ in rows:
        assert items.endswith(f" of {capacity[courier]}")
    assert table_cells(page, "Loans")[0][6] in {c["id"] for c in doc["couriers"]}
    page.context.close()
