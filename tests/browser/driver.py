"""Driving the planner's page in Debian's Chromium with Playwright's Python API.

Shared by the browser tests, ``make screenshots`` and the first-paint measurement. Playwright
never downloads a browser here: it starts the system's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.conftest import API_KEY, Server, server_env, wait_for

CHROMIUM = Path(os.environ.get("UNISHARE_CHROMIUM", "/usr/bin/chromium"))
# Headless as root in a container, with no network: no sandbox, and none of Chromium's own
# background connections (they would be refused, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KEY_ITEM = "unishare.apiKey"  # where the page keeps the key (api/static/js/api.js)
VIEW_DEADLINE_MS = 180_000
DOCUMENT_LABEL = "Instance document (JSON): paste or edit"


def page_server(folder: Path, **settings: Any) -> Server:
    """A ``unishare serve`` on loopback with an API key, jobs in SQLite under ``folder``."""
    defaults: dict[str, Any] = {
        "max_concurrent_solves": 2,
        "max_time_limit_s": 300,
        "cancel_grace_s": 5,
    }
    env = server_env(f"sqlite:///{folder / 'jobs.db'}", **{**defaults, **settings})
    return Server(env=env, log_path=folder / "server.log").start()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, url: str, *, key: str | None = API_KEY, width: int = 1280) -> Page:
    """A fresh tab on the page, with ``key`` already in its session (None: the page asks)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": 900})
    if key is not None:
        context.add_init_script(f"sessionStorage.setItem({KEY_ITEM!r}, {json.dumps(key)})")
    page = context.new_page()
    page.goto(url + "/")
    if key is not None:
        wait_ready(page)
    return page


def wait_ready(page: Page) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)


def load_example(page: Page, key: str) -> None:
    """Picks a shipped example ("kind/stem") and loads it; waits for its validation."""
    page.get_by_label("Example", exact=True).select_option(key)
    page.get_by_role("button", name="Load example").click()
    page.locator("#issues").get_by_text("Valid").wait_for(timeout=30_000)


def upload(page: Page, path: Path) -> None:
    page.get_by_label("JSON document or spreadsheet (.xlsx)").set_input_files(str(path))


def paste(page: Page, text: str) -> None:
    """Types a document into the editor, and leaves it (as a planner would, for the Solve
    button): the page reads an edited document when the editor loses focus."""
    editor = page.get_by_label(DOCUMENT_LABEL)
    editor.fill(text)
    editor.blur()


def solve(page: Page, *, time_limit_s: float | None = None, solver: str | None = None) -> str:
    """Submits the document in the editor; returns the job id once it is accepted."""
    previous = page.locator("body").get_attribute("data-job")
    if time_limit_s is not None:
        page.get_by_label("Time limit (seconds)").fill(str(time_limit_s))
    if solver is not None:
        page.get_by_label("Solver").select_option(solver)
    page.get_by_role("button", name="Solve", exact=True).click()
    page.wait_for_function(
        "prev => document.body.dataset.job && document.body.dataset.job !== prev",
        arg=previous,
        timeout=60_000,
    )
    job = page.locator("body").get_attribute("data-job")
    assert job
    return job


def wait_view(page: Page, job: str) -> dict[str, float]:
    """Waits until the plan of ``job`` is drawn; returns its fetch and first-paint times."""
    page.wait_for_function(
        "job => { const v = document.getElementById('view');"
        " return v.dataset.job === job && v.dataset.firstPaintMs !== undefined; }",
        arg=job,
        timeout=VIEW_DEADLINE_MS,
    )
    view = page.locator("#view")
    return {
        "fetch_ms": float(view.get_attribute("data-fetch-ms") or "nan"),
        "first_paint_ms": float(view.get_attribute("data-first-paint-ms") or "nan"),
    }


__all__ = [
    "API_KEY",
    "CHROMIUM",
    "DOCUMENT_LABEL",
    "chromium",
    "load_example",
    "open_page",
    "page_server",
    "paste",
    "solve",
    "upload",
    "wait_for",
    "wait_ready",
    "wait_view",
]


def solution_of(web: Server, job: str) -> dict[str, Any]:
    with web.client() as client:
        response = client.get(f"/v1/jobs/{job}/solution")
        assert response.status_code == 200, response.text
        return dict(response.json())


def table_rows(page: Page, caption: str) -> int:
    """Rows the paged table captioned ``caption…`` reports in all its pages."""
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    status = table.locator("xpath=ancestor::div[contains(@class,'paged')]").locator(".pager-status")
    text = status.inner_text()  # "Rows 1–100 of 20,000"
    return int(text.rsplit("of", 1)[1].replace(",", "").strip())
