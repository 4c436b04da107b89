"""Time to first paint of the page's views on large plans, measured in Chromium.

    python -m tests.browser.first_paint [--repeat 3]

Starts a server on a temporary SQLite file, uploads a 1,000-request instruments week and a
20,000-request loans batch (tests/browser/large.py) through the page, solves each and reopens
it ``--repeat`` times from the list of earlier jobs. Prints, per view: the solution fetch
(request and JSON parsing) and the first paint of the view after it (the page's own
Performance API figures: ``data-fetch-ms`` and ``data-first-paint-ms`` of ``#view``), then
what scrolling costs: the Gantt at week zoom and the next page of loans. Results and their
dates go in benchmarks/RESULTS.md; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.driver import chromium, open_page, page_server, solve, upload, wait_view
from tests.browser.large import large_loans, large_week, write

# The time from an action to the frame after the one that shows its result.
TIMED_ACTION = """async (action) => {
  const t0 = performance.now();
  action === 'week'
    ? (() => { const z = document.querySelector('.gantt-controls select');
               z.value = 'week'; z.dispatchEvent(new Event('change')); })()
    : document.querySelector('button[aria-label^="Next page of Loans"]').click();
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def reopen(page: Page, job: str) -> dict[str, float]:
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.locator(f'tr[data-job="{job}"]').get_by_role("button", name="Open job").click()
    return wait_view(page, job)


def measure(page: Page, path: Path, action: str, repeat: int) -> dict[str, object]:
    upload(page, path)
    page.locator("#issues").get_by_text("Valid").wait_for(timeout=120_000)
    job = solve(page)
    runs = [wait_view(page, job)]
    drawn = page.locator("#view").get_attribute("data-kind")
    for _ in range(repeat):
        runs.append(reopen(page, job))
    scroll = page.evaluate(TIMED_ACTION, action)
    fcp = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
    )
    return {
        "view": drawn,
        "fetch_ms": [r["fetch_ms"] for r in runs],
        "first_paint_ms": [r["first_paint_ms"] for r in runs],
        "scroll_ms": scroll,
        "page_fcp_ms": fcp,
        "dom_nodes": page.evaluate("document.getElementsByTagName('*').length"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="reopenings after the first draw")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as name, chromium() as browser:
        folder = Path(name)
        server = page_server(folder, max_concurrent_solves=1)
        try:
            page = open_page(browser, server.url)
            cases = [
                ("instruments, 1,000 requests", write(large_week(), folder), "week"),
                ("loans, 20,000 requests", write(large_loans(), folder), "loans"),
            ]
            print(
                f"{'plan':30} {'fetch ms (median)':>18} {'first paint ms (first, median)':>31}"
                f" {'scroll ms':>10} {'DOM nodes':>10}"
            )
            for label, path, action in cases:
                r = measure(page, path, action, args.repeat)
                paints = r["first_paint_ms"]
                assert isinstance(paints, list)
                fetches = r["fetch_ms"]
                assert isinstance(fetches, list)
                print(
                    f"{label:30} {statistics.median(fetches):>18.0f}"
                    f" {paints[0]:>15.0f} {statistics.median(paints):>15.0f}"
                    f" {r['scroll_ms']:>10.0f} {r['dom_nodes']:>10}"
                )
            print(f"page itself: first contentful paint {r['page_fcp_ms']:.0f} ms after reload")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
