"""Warnings: what looks wrong in a valid document, reported with its path, never invalidating."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app, load_settings
from optimizer.cli import app
from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Status
from tests.instruments.helpers import at, base_document, request, step

OPTIONS = {"time_limit_s": 10, "threads": 1}
INSTANCES = Path(__file__).resolve().parents[2] / "instances"


def instruments(**changes: Any) -> dict[str, Any]:
    """A one-day instruments document with one request on em-1."""
    doc = base_document(requests=[request("r1", step(["em-1"], 60))], options=OPTIONS)
    doc.update(copy.deepcopy(changes))
    return doc


def loans(**changes: Any) -> dict[str, Any]:
    """December: one copy at cqu-lib, one request from xju-lib, a route between them."""
    doc: dict[str, Any] = {
        "kind": "loans",
        "options": OPTIONS,
        "horizon": {"start": "2026-12-01", "end": "2026-12-31"},
        "libraries": [{"id": "cqu-lib"}, {"id": "xju-lib"}],
        "copies": [{"id": "c1", "library": "cqu-lib", "title": "t"}],
        "requests": [
            {"id": "q1", "library": "xju-lib", "titles": ["t"], "needed_by": "2026-12-10"}
        ],
        "shipping": [{"from": "cqu-lib", "to": "xju-lib", "days": 2, "cost": 1.0}],
    }
    doc.update(copy.deepcopy(changes))
    return doc


def warnings_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    parsed = parse_document(doc)
    assert parsed.issues == [] and parsed.instance is not None, parsed.issues
    assert all(w.severity == "warning" and w.detail for w in parsed.warnings)
    return [(w.code, w.path) for w in parsed.warnings]


def with_request_times(**times: str) -> dict[str, Any]:
    return instruments(requests=[request("r1", step(["em-1"], 60), **times)])


# ---------------------------------------------------------------- one test per warning


def test_matching_with_one_institution():
    doc = {"kind": "matching", "institutions": [{"id": "cqu"}]}
    assert warnings_of(doc) == [("too_few_institutions", "institutions")]
    assert warnings_of({**doc, "institutions": [{"id": "cqu"}, {"id": "scu"}]}) == []


def test_instruments_without_requests():
    assert warnings_of(instruments(requests=[])) == [("no_requests", "requests")]
    assert warnings_of(instruments()) == []


def test_loans_without_requests():
    assert warnings_of(loans(requests=[])) == [("no_requests", "requests")]
    assert warnings_of(loans()) == []


def test_instruments_release_at_or_after_the_horizon_end():
    assert warnings_of(with_request_times(release=at(1440))) == [
        ("time_outside_horizon", "requests[0].release")
    ]
    # before the horizon starts, a release only means "from the start"
    assert warnings_of(with_request_times(release=at(-600))) == []


def test_instruments_deadline_at_or_before_the_horizon_start():
    assert warnings_of(with_request_times(deadline=at(0))) == [
        ("time_outside_horizon", "requests[0].deadline")
    ]
    assert warnings_of(with_request_times(deadline=at(3000))) == []


def test_instruments_due_outside_the_horizon():
    assert warnings_of(with_request_times(due=at(-60))) == [
        ("time_outside_horizon", "requests[0].due")
    ]
    assert warnings_of(with_request_times(due=at(1441))) == [
        ("time_outside_horizon", "requests[0].due")
    ]
    assert warnings_of(with_request_times(due=at(1440))) == []


def test_instruments_windows_entirely_outside_the_horizon():
    doc = instruments()
    doc["instruments"][0]["maintenance"] = [
        {"start": at(60), "end": at(120)},
        {"start": at(1440), "end": at(1500)},
    ]
    doc["instruments"][1]["availability"] = [
        {"start": at(-120), "end": at(0)},
        {"start": at(-60), "end": at(60)},  # overlaps the horizon: fine
    ]
    doc["operators"][0]["availability"] = [{"start": at(2000), "end": at(2100)}]
    assert warnings_of(doc) == [
        ("time_outside_horizon", "instruments[0].maintenance[1]"),
        ("time_outside_horizon", "instruments[1].availability[0]"),
        ("time_outside_horizon", "operators[0].availability[0]"),
    ]


def test_loans_needed_before_the_horizon_starts():
    doc = loans()
    doc["requests"][0]["needed_by"] = "2026-11-30"
    assert warnings_of(doc) == [("date_outside_horizon", "requests[0].needed_by")]
    # needed after the horizon: the loan still ships inside it, in time
    doc["requests"][0]["needed_by"] = "2027-02-01"
    assert warnings_of(doc) == []


def test_loans_copy_available_only_after_the_horizon():
    doc = loans()
    doc["copies"][0]["available_from"] = "2027-01-01"
    assert warnings_of(doc) == [("date_outside_horizon", "copies[0].available_from")]
    doc["copies"][0]["available_from"] = "2026-12-31"
    assert warnings_of(doc) == []


@pytest.mark.parametrize("path", sorted(INSTANCES.glob("*/*.json")), ids=lambda p: p.stem)
def test_the_shipped_instances_have_no_warnings(path):
    assert warnings_of(json.loads(path.read_bytes())) == []


# ---------------------------------------------------------------- warnings never invalidate


def late_loan() -> dict[str, Any]:
    doc = loans()
    doc["requests"][0]["needed_by"] = "2026-11-28"
    return doc


def test_a_solve_keeps_the_warnings_in_issues():
    solution = solve_document(late_loan())
    assert solution.status == Status.OPTIMAL
    assert [(i.code, i.severity, i.path) for i in solution.issues] == [
        ("date_outside_horizon", "warning", "requests[0].needed_by")
    ]
    assert solution.solution is not None and solution.solution["loans"]


def test_an_infeasible_solve_keeps_them_too():
    doc = instruments(
        objective="min_makespan",
        requests=[request("r1", step(["em-1"], 60), release=at(1440))],
    )
    solution = solve_document(doc)
    assert solution.status == Status.INFEASIBLE
    assert [(i.code, i.path) for i in solution.issues] == [
        ("time_outside_horizon", "requests[0].release")
    ]


def test_an_invalid_document_is_still_invalid_and_only_errors_are_issues():
    doc = late_loan()
    doc["copies"][0]["library"] = "lzu-lib"
    parsed = parse_document(doc)
    assert parsed.instance is None and parsed.warnings == []
    assert [(i.code, i.severity) for i in parsed.issues] == [("unknown_reference", "error")]


def test_validate_prints_warnings_and_exits_0(tmp_path):
    (tmp_path / "late.json").write_text(json.dumps(late_loan()))
    (tmp_path / "fine.json").write_text(json.dumps(loans()))
    result = CliRunner().invoke(app, ["validate", str(tmp_path)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "late.json (loans), 1 warning" in result.output
    assert "date_outside_horizon (warning) requests[0].needed_by = 2026-11-28" in result.output
    assert "fine.json (loans)\n" in result.output


class NoExecutor:
    """The service without workers: /v1/validate never solves."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def alive(self) -> bool:
        return True

    def running(self) -> int:
        return 0

    def waiting(self) -> int:
        return 0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        {}, database_url=f"sqlite:///{tmp_path / 'jobs.db'}", api_keys=("unit-key",)
    )
    service = create_app(settings, executor_factory=lambda *_: NoExecutor())
    with TestClient(service, headers={"X-API-Key": "unit-key"}) as c:
        yield c


def test_the_http_validate_reports_warnings_as_valid(client):
    report = client.post("/v1/validate", json=late_loan()).json()
    assert report["valid"] is True
    assert [(i["code"], i["severity"], i["path"]) for i in report["issues"]] == [
        ("date_outside_horizon", "warning", "requests[0].needed_by")
    ]
    broken = late_loan()
    broken["shipping"][0]["to"] = "xju-lb"
    report = client.post("/v1/validate", json=broken).json()
    assert report["valid"] is False
    assert [(i["code"], i["path"]) for i in report["issues"]] == [
        ("unknown_reference", "shipping[0].to")
    ]
    assert report["issues"][0]["detail"].endswith("did you mean 'xju-lib'?")
