"""The files the page downloads and uploads: a job's plan as CSV, XLSX and iCalendar, a workbook
read into a document, and each kind's template. In process, with jobs finished by hand."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from openpyxl import load_workbook

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.spreadsheets import workbook
from optimizer.registry import KINDS
from tests.api.conftest import instance_bytes, kind_params
from tests.api.test_app import KEY, IdleExecutor, make_client
from tests.exports.test_plan_exports import expected_rows, row_key


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, IdleExecutor(), max_body_bytes=100_000) as c:
        yield c


def queued_job(client: TestClient, raw: bytes) -> str:
    response = client.post("/v1/jobs", content=raw)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finish(client: TestClient, job_id: str, solution: dict[str, Any]) -> None:
    """Run the job as a worker would: claim it, store its solution."""
    store = client.app.state.store  # type: ignore[attr-defined]
    claimed = store.claim_next("test-worker")
    assert claimed is not None and claimed.id == job_id
    assert store.finish(job_id, status="succeeded", solution=solution, owner="test-worker")


def solved_job(client: TestClient, kind: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    raw = instance_bytes(kind)
    job_id = queued_job(client, raw)
    solution = solve_document(raw).model_dump(mode="json")
    finish(client, job_id, solution)
    return job_id, solution, json.loads(raw)


@pytest.mark.parametrize("kind", kind_params())
def test_csv_and_xlsx_of_a_finished_job(client: TestClient, kind: str) -> None:
    raw = instance_bytes(kind)
    waiting = queued_job(client, raw)
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/v1/jobs/{waiting}/solution.{fmt}")
        assert response.status_code == 409 and "queued" in response.json()["detail"]
    client.delete(f"/v1/jobs/{waiting}")

    job_id, solution, document = solved_job(client, kind)
    links = client.get(f"/v1/jobs/{job_id}").json()["links"]
    assert links["csv"] == f"/v1/jobs/{job_id}/solution.csv"
    assert links["xlsx"] == f"/v1/jobs/{job_id}/solution.xlsx"
    assert (links["ics"] is not None) == (KINDS[kind].calendar is not None)

    response = client.get(links["csv"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{solution["name"]}.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row_key(r) for r in rows] == expected_rows(solution["solution"])
    if kind == "matching":  # names come from the job's own document
        names = {x["id"]: x.get("name") for x in document["institutions"]}
        assert all(r.get("a_name", r.get("name")) == (names[r.get("a") or r["institution"]] or "")
                   for r in rows)  # fmt: skip

    response = client.get(links["xlsx"])
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert sum(1 for _ in book["plan"].iter_rows()) == len(rows) + 1


@pytest.mark.parametrize("kind", kind_params())
def test_ics_for_dated_kinds_404_for_others(client: TestClient, kind: str) -> None:
    job_id, solution, document = solved_job(client, kind)
    response = client.get(f"/v1/jobs/{job_id}/solution.ics")
    if KINDS[kind].calendar is None:
        assert response.status_code == 404
        assert "no dated items" in response.json()["detail"]
        return
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    bookings = solution["solution"]["bookings"]
    assert len(Calendar.from_ical(response.content).walk("VEVENT")) == len(bookings)
    instrument = bookings[0]["instrument"]
    one = client.get(f"/v1/jobs/{job_id}/solution.ics", params={"instrument": instrument})
    events = Calendar.from_ical(one.content).walk("VEVENT")
    assert len(events) == sum(b["instrument"] == instrument for b in bookings)
    institution = {r["id"]: r["institution"] for r in document["requests"]}
    who = institution[bookings[0]["request"]]
    theirs = client.get(f"/v1/jobs/{job_id}/solution.ics", params={"institution": who})
    events = Calendar.from_ical(theirs.content).walk("VEVENT")
    assert len(events) == sum(institution[b["request"]] == who for b in bookings)
    both = client.get(
        f"/v1/jobs/{job_id}/solution.ics", params={"institution": who, "instrument": instrument}
    )
    assert both.status_code == 422 and both.json()["issues"][0]["code"] == "invalid_filter"


def test_a_job_without_a_plan_or_unknown_is_409_or_404(client: TestClient) -> None:
    kind = next(p.values[0] for p in kind_params() if not p.marks)
    job_id = queued_job(client, instance_bytes(kind))
    finish(client, job_id, {"kind": kind, "name": "x", "status": "infeasible", "solution": None})
    response = client.get(f"/v1/jobs/{job_id}/solution.csv")
    assert response.status_code == 409 and "infeasible" in response.json()["detail"]
    assert client.get("/v1/jobs/nope/solution.csv").status_code == 404
    assert client.get("/v1/jobs/nope/solution.ics").status_code == 404


@pytest.mark.parametrize("kind", kind_params())
def test_template_then_import(client: TestClient, kind: str) -> None:
    response = client.get(f"/v1/kinds/{kind}/template.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f'filename="{kind}-template.xlsx"' in response.headers["content-disposition"]
    assert client.get("/v1/kinds").json()[0]["links"]["template"].endswith("/template.xlsx")

    # The empty template: 200, invalid, every issue placed in the workbook.
    report = client.post("/v1/import", params={"kind": kind}, content=response.content).json()
    assert report["valid"] is False and report["document"]["kind"] == kind
    assert report["issues"] and all(i["sheet"] for i in report["issues"])

    # An example as a workbook: the same document back.
    parsed = parse_document(instance_bytes(kind))
    assert parsed.instance is not None
    filled = workbook(parsed.instance)
    report = client.post("/v1/import", params={"kind": kind}, content=filled).json()
    assert report["valid"] is True and report["issues"] == []
    back = parse_document(report["document"]).instance
    assert back is not None and back.model_dump() == parsed.instance.model_dump()

    other = next(k for k in KINDS if k != kind)
    report = client.post("/v1/import", params={"kind": other}, content=filled).json()
    assert report["valid"] is False and report["issues"][0]["code"] == "wrong_kind"


def test_import_refuses_what_is_not_a_workbook(client: TestClient) -> None:
    response = client.post("/v1/import", content=b"kind,name\nloans,x\n")
    assert response.status_code == 422
    [issue] = response.json()["issues"]
    assert issue["code"] == "not_xlsx" and "XLSX" in issue["detail"]
    assert client.post("/v1/import", content=b"x" * 200_000).status_code == 413
    bad_kind = client.post("/v1/import", params={"kind": "nope"}, content=b"x")
    assert bad_kind.status_code == 422 and bad_kind.json()["issues"][0]["path"] == "query.kind"
    assert client.get("/v1/kinds/nope/template.xlsx").status_code == 404


def test_every_new_route_needs_the_key(client: TestClient) -> None:
    anonymous = {"X-API-Key": ""}
    for path in (
        "/v1/jobs/x/solution.csv",
        "/v1/jobs/x/solution.xlsx",
        "/v1/jobs/x/solution.ics",
        "/v1/kinds/loans/template.xlsx",
    ):
        assert client.get(path, headers=anonymous).status_code == 401, path
    assert client.post("/v1/import", content=b"x", headers=anonymous).status_code == 401
    assert client.get("/v1/kinds/loans/template.xlsx", headers={"X-API-Key": KEY}).is_success


def test_a_workbook_that_unpacks_too_large_is_413(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.core import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_UNZIPPED_BYTES", 1_000)
    response = client.post("/v1/import", content=spreadsheets.template("loans"))
    assert response.status_code == 413 and "unpacks to" in response.json()["detail"]
