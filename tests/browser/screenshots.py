"""``make screenshots``: each view of the planner's page as a PNG under docs/images/.

Starts a server on a temporary SQLite file, drives the page in Chromium as a planner would
(load an example, solve, look), and writes one picture per view for the README.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page

from tests.api.conftest import long_groups_instance
from tests.browser.driver import (
    DOCUMENT_LABEL,
    chromium,
    load_example,
    open_page,
    page_server,
    paste,
    solve,
    wait_view,
)

log = logging.getLogger(__name__)


MAX_HEIGHT = 1100  # pixels: the top of a long view is what the README shows


def shoot(page: Page, selector: str, path: Path) -> None:
    target = page.locator(selector).first
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None, f"{selector} is not on the page"
    # The box is in viewport coordinates; a full-page clip is in page coordinates.
    scroll = page.evaluate("[window.scrollX, window.scrollY]")
    clip = {
        "x": box["x"] + scroll[0],
        "y": box["y"] + scroll[1],
        "width": box["width"],
        "height": min(box["height"], MAX_HEIGHT),
    }
    page.screenshot(path=str(path), clip=clip, full_page=True, animations="disabled")
    log.info("wrote %s (%d KB)", path, path.stat().st_size // 1024)


def matching(page: Page, out: Path) -> None:
    load_example(page, "matching/east-west-counterparts")
    wait_view(page, solve(page, time_limit_s=20))
    shoot(page, "#view .split", out / "matching-map.png")
    load_example(page, "matching/chongqing-alliance")
    wait_view(page, solve(page, time_limit_s=20))
    shoot(page, "#view .split", out / "matching-consortia.png")


def instruments(page: Page, out: Path) -> None:
    load_example(page, "instruments/chengdu-chongqing-week")
    wait_view(page, solve(page, time_limit_s=15))
    page.get_by_label("Zoom").select_option("day")
    shoot(page, "#view .gantt", out / "instruments-gantt.png")


def loans(page: Page, out: Path) -> None:
    load_example(page, "loans/western-consortium")
    wait_view(page, solve(page, time_limit_s=20))
    shoot(page, "#view", out / "loans.png")


def progress(page: Page, out: Path) -> None:
    doc = long_groups_instance(12.0)
    doc["options"]["explain"] = False  # the picture is of the search, not of the reasons
    paste(page, json.dumps(doc, indent=2))
    wait_view(page, solve(page, time_limit_s=12))
    shoot(page, "#solve", out / "progress.png")


def validation(page: Page, out: Path) -> None:
    load_example(page, "instruments/small-two-days")
    doc = json.loads(page.get_by_label(DOCUMENT_LABEL).input_value())
    doc["instruments"][0]["changeover_minutes"] = -30
    doc["requests"][2]["deadline"] = "2026-12-02T18:00:00"
    paste(page, json.dumps(doc, indent=2))
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("table", name="Validation issues").wait_for()
    shoot(page, "#issues", out / "validation.png")


VIEWS = {
    "matching": matching,
    "instruments": instruments,
    "loans": loans,
    "progress": progress,
    "validation": validation,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/images"))
    parser.add_argument("--view", choices=sorted(VIEWS), action="append")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, chromium() as browser:
        server = page_server(Path(folder))
        try:
            page = open_page(browser, server.url, width=1200)
            for name in args.view or list(VIEWS):
                VIEWS[name](page, args.out)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
