"""The page's files as the service serves them (in process, no browser): open to everyone,
with the types browsers need, and nothing outside the page's folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app, load_settings
from api.routes.page import STATIC


@pytest.fixture
def anonymous(tmp_path: Path) -> TestClient:
    settings = load_settings(
        {}, database_url=f"sqlite:///{tmp_path / 'jobs.db'}", api_keys=("only-key",)
    )
    # No lifespan (no `with`): the page's routes need neither the store nor the workers.
    return TestClient(create_app(settings))


def test_the_page_needs_no_key(anonymous: TestClient) -> None:
    page = anonymous.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/page/js/main.js">' in page.text
    assert anonymous.get("/v1/kinds").status_code == 401


def test_every_module_the_page_imports_is_served_as_javascript(anonymous: TestClient) -> None:
    modules = sorted(p.name for p in (STATIC / "js").glob("*.js"))
    assert "main.js" in modules
    for name in modules:
        response = anonymous.get(f"/page/js/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript"), name
        # Each relative import names a module that exists (a typo would only show in a browser).
        for imported in re.findall(
            r'from "\./([\w-]+\.js)"|import\("\./([\w-]+\.js)"\)', response.text
        ):
            assert (STATIC / "js" / "".join(imported)).is_file(), f"{name} imports {imported}"
    assert anonymous.get("/page/app.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path", ["/page/../routes/page.py", "/page/%2e%2e/routes/page.py", "/page/js", "/page/nope.js"]
)
def test_nothing_outside_the_page_folder(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code == 404
