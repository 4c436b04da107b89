"""Fixtures for the browser tests: one server and one Chromium for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.api.conftest import Server
from tests.browser.driver import CHROMIUM, chromium, page_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does) "
            "to run the browser tests"
        )
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def web(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server the page is loaded from (started only when Chromium is there)."""
    srv = page_server(tmp_path_factory.mktemp("page-server"))
    yield srv
    srv.stop()
