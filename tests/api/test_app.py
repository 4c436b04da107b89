"""In-process tests (TestClient) of what needs no worker processes: validation, limits,
auth, listing, kinds, health and metrics. The executor is a stand-in that runs nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app, load_settings
from api.settings import SettingsError
from api.store import JobStore
from optimizer.core.documents import solve_document
from optimizer.registry import KINDS
from tests.api.conftest import instance_bytes, kind_params

KEY = "unit-key"


class IdleExecutor:
    """Stores nothing, runs queued jobs never; synchronous solves run in the calling thread."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.is_alive = True

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def solve_now(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        solution = solve_document(document, overrides=overrides)
        future.set_result(solution.model_dump(mode="json"))
        return future

    def abandon(self, future: Future[dict[str, Any]]) -> None: ...

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def alive(self) -> bool:
        return self.is_alive

    def running(self) -> int:
        return 0

    def waiting(self) -> int:
        return 0


@pytest.fixture
def executor() -> IdleExecutor:
    return IdleExecutor()


def make_client(tmp_path: Path, executor: IdleExecutor, **settings: Any) -> TestClient:
    values = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.db'}",
        "api_keys": (KEY,),
        **settings,
    }
    app = create_app(load_settings({}, **values), executor_factory=lambda *_: executor)
    return TestClient(app, headers={"X-API-Key": KEY})


@pytest.fixture
def client(tmp_path: Path, executor: IdleExecutor) -> Iterator[TestClient]:
    with make_client(tmp_path, executor, max_queued_jobs=3, max_body_bytes=100_000) as c:
        yield c


def first_kind() -> str:
    return next(p.values[0] for p in kind_params() if not p.marks)


def test_queue_full_is_429_with_retry_after(client: TestClient, executor: IdleExecutor) -> None:
    raw = instance_bytes(first_kind())
    accepted = [client.post("/v1/jobs", content=raw) for _ in range(3)]
    assert [r.status_code for r in accepted] == [202, 202, 202]
    assert executor.submitted == [r.json()["id"] for r in accepted]
    refused = client.post("/v1/jobs", content=raw)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    # Cancelling a queued job frees its place at once.
    job_id = accepted[0].json()["id"]
    assert client.delete(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert client.get(f"/v1/jobs/{job_id}/solution").status_code == 409
    assert client.post("/v1/jobs", content=raw).status_code == 202


def test_listing_paginates_and_filters(client: TestClient) -> None:
    raw = instance_bytes(first_kind())
    ids = [client.post("/v1/jobs", content=raw).json()["id"] for _ in range(3)]
    client.delete(f"/v1/jobs/{ids[1]}")
    page = client.get("/v1/jobs", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    rest = client.get("/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert rest["next_offset"] is None
    assert {j["id"] for j in page["items"] + rest["items"]} == set(ids)
    cancelled = client.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in cancelled["items"]] == [ids[1]]
    bad = client.get("/v1/jobs", params={"status": "done"})
    assert bad.status_code == 422 and bad.json()["issues"][0]["path"] == "query.status"
    assert client.get("/v1/jobs", params={"kind": "none"}).json()["total"] == 0


@pytest.mark.parametrize("kind", kind_params())
def test_validate_reports_issues_without_solving(client: TestClient, kind: str) -> None:
    raw = instance_bytes(kind)
    assert client.post("/v1/validate", content=raw).json() == {"valid": True, "issues": []}
    data = json.loads(raw)
    data["options"]["time_limit_s"] = -1
    report = client.post("/v1/validate", json=data).json()
    assert report["valid"] is False
    assert report["issues"][0]["path"] == "options.time_limit_s"
    malformed = client.post("/v1/validate", content=b"{").json()
    assert malformed["valid"] is False and malformed["issues"][0]["code"] == "malformed_json"


@pytest.mark.parametrize("kind", kind_params())
def test_sync_solve_of_an_infeasible_or_any_status_is_200(client: TestClient, kind: str) -> None:
    response = client.post("/v1/solve", content=instance_bytes(kind))
    assert response.status_code == 200
    assert response.json()["status"] in ("optimal", "feasible", "infeasible", "no_solution")


def test_a_solver_the_kind_cannot_use_is_refused_before_queueing(
    client: TestClient, executor: IdleExecutor
) -> None:
    raw = instance_bytes(first_kind())
    for path in ("/v1/solve", "/v1/jobs"):
        response = client.post(path, content=raw, params={"solver": "magic"})
        assert response.status_code == 422
        issues = response.json()["issues"]
        assert [(i["code"], i["path"]) for i in issues] == [
            ("unsupported_solver", "options.solver")
        ]
    assert executor.submitted == []
    data = json.loads(raw)
    data["options"]["solver"] = "magic"
    report = client.post("/v1/validate", json=data).json()
    assert [i["code"] for i in report["issues"]] == ["unsupported_solver"]


def test_a_bad_query_value_is_an_issue_naming_parameter_and_value(client: TestClient) -> None:
    response = client.post(
        "/v1/solve", content=instance_bytes(first_kind()), params={"time_limit_s": "soon"}
    )
    assert response.status_code == 422
    [issue] = response.json()["issues"]
    assert issue["code"] == "wrong_type" and issue["path"] == "query.time_limit_s"
    assert issue["detail"].startswith("query.time_limit_s = 'soon': ")


def read_stream(client: TestClient, job_id: str, **headers: str) -> list[tuple[str, str, dict]]:
    """(id, event, data) of each event, until the server ends the stream."""
    events, fields = [], {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if not line:
                if "event" in fields:
                    events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
    return events


def test_events_of_a_finished_job_replay_and_resume_after_last_event_id(
    client: TestClient,
) -> None:
    job_id = client.post("/v1/jobs", content=instance_bytes(first_kind())).json()["id"]
    client.delete(f"/v1/jobs/{job_id}")
    events = read_stream(client, job_id)
    assert [(name, data) for _, name, data in events] == [
        ("status", {"job": job_id, "status": "queued"}),
        ("status", {"job": job_id, "status": "cancelled"}),
    ]
    first_id = events[0][0]
    assert read_stream(client, job_id, **{"Last-Event-ID": first_id}) == events[1:]
    assert client.get("/v1/jobs/no-such-job/events").status_code == 404


def test_absurd_nesting_is_an_issue_not_a_crash(client: TestClient) -> None:
    deep = b"[" * 20_000 + b"]" * 20_000
    for path in ("/v1/solve", "/v1/jobs"):
        response = client.post(path, content=deep)
        assert response.status_code == 422
        assert response.json()["issues"][0]["code"] == "malformed_json"
    assert client.post("/v1/validate", content=deep).json()["valid"] is False
    nested = b'{"kind": "matching", "institutions": [{"id": "a", "x": ' + deep + b"}]}"
    assert client.post("/v1/solve", content=nested).status_code == 422


def test_too_many_entities_is_422(tmp_path: Path, executor: IdleExecutor) -> None:
    raw = instance_bytes(first_kind())
    with make_client(tmp_path, executor, max_entities=2) as small:
        for path in ("/v1/solve", "/v1/jobs"):
            response = small.post(path, content=raw)
            assert response.status_code == 422
            assert response.json()["issues"][0]["code"] == "too_many_entities"
        assert small.post("/v1/validate", content=raw).json()["valid"] is False


def test_declared_body_over_the_limit_is_413(client: TestClient) -> None:
    body = b"{" + b" " * 100_000 + b"}"
    assert client.post("/v1/solve", content=body).status_code == 413
    assert client.post("/v1/validate", content=body).status_code == 413


def test_kinds_schema_and_examples_come_from_the_registry(client: TestClient) -> None:
    kinds = client.get("/v1/kinds").json()
    assert {k["kind"] for k in kinds} == set(KINDS)
    for entry in kinds:
        kind = KINDS[entry["kind"]]
        assert entry["solvers"] == list(kind.solvers)
        schema = client.get(f"/v1/kinds/{entry['kind']}/schema").json()
        assert schema == kind.instance_model.model_json_schema()
        examples = client.get(f"/v1/kinds/{entry['kind']}/examples").json()
        for document in examples.values():
            assert document["kind"] == entry["kind"]
    openapi = client.get("/openapi.json").json()
    body = openapi["paths"]["/v1/solve"]["post"]["requestBody"]["content"]["application/json"]
    assert body.get("examples"), "the OpenAPI document shows the shipped instances"


def test_auth_accepts_bearer_or_x_api_key_only(client: TestClient) -> None:
    assert client.get("/v1/kinds", headers={"X-API-Key": ""}).status_code == 401
    assert client.get("/v1/kinds", headers={"X-API-Key": KEY + "x"}).status_code == 401
    anonymous = {"X-API-Key": "", "Authorization": f"Bearer {KEY}"}
    assert client.get("/v1/kinds", headers=anonymous).status_code == 200
    response = client.get("/v1/jobs/x", headers={"X-API-Key": "nope"})
    assert response.status_code == 401 and KEY not in response.text
    assert client.get("/health/live", headers={"X-API-Key": ""}).status_code == 200


def test_key_file_and_open_mode(tmp_path: Path, executor: IdleExecutor) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# planners\nfile-key\n\n", encoding="utf-8")
    settings = load_settings(
        {"UNISHARE_API_KEY_FILE": str(key_file), "UNISHARE_API_KEYS": "a, b"},
        database_url=f"sqlite:///{tmp_path / 'k.db'}",
    )
    assert settings.all_api_keys() == ("a", "b", "file-key")
    with TestClient(create_app(settings, executor_factory=lambda *_: executor)) as c:
        assert c.get("/v1/kinds", headers={"X-API-Key": "file-key"}).status_code == 200
        assert c.get("/v1/kinds").status_code == 401
    open_settings = load_settings({}, database_url=f"sqlite:///{tmp_path / 'o.db'}")
    with TestClient(create_app(open_settings, executor_factory=lambda *_: executor)) as c:
        assert c.get("/v1/kinds").status_code == 200


def test_bad_settings_fail_clearly() -> None:
    with pytest.raises(SettingsError, match="UNISHARE_MAX_CONCURRENT_SOLVES = 'many': "):
        load_settings({"UNISHARE_MAX_CONCURRENT_SOLVES": "many"})
    with pytest.raises(SettingsError, match="UNISHARE_CANCEL_GRACE_S = '-1': "):
        load_settings({"UNISHARE_CANCEL_GRACE_S": "-1"})
    assert load_settings({"UNISHARE_MAX_TIME_LIMIT_S": "5"}).max_time_limit_s == 5


def test_settings_come_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNISHARE_API_KEYS", " one ,two,")
    monkeypatch.setenv("UNISHARE_MAX_QUEUED_JOBS", "7")
    monkeypatch.setenv("UNISHARE_API_KEY_FILE", "")  # empty: unset, as before
    settings = load_settings()
    assert settings.api_keys == ("one", "two")
    assert settings.max_queued_jobs == 7 and settings.api_key_file is None
    assert settings.table_prefix == "unishare_" and settings.max_time_limit_s == 300
    # An explicit mapping replaces the process's variables; arguments win over both.
    assert load_settings({}, max_queued_jobs=3).max_queued_jobs == 3
    assert load_settings({}).api_keys == ()


def test_health_and_metrics(client: TestClient, executor: IdleExecutor) -> None:
    assert client.get("/health/ready").json()["status"] == "ok"
    client.post("/v1/jobs", content=instance_bytes(first_kind()))
    text = client.get("/metrics").text
    assert f'unishare_jobs{{kind="{first_kind()}",status="queued"}} 1.0' in text
    assert "unishare_queue_depth 1.0" in text
    assert 'route="/v1/jobs",status="202"' in text
    executor.is_alive = False
    response = client.get("/health/ready")
    assert response.status_code == 503 and response.json()["workers"] is False


def test_store_prunes_old_finished_jobs_and_requeues_running(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    made = []
    for i in range(3):
        job, created = store.submit(
            kind="matching", name=f"j{i}", document="{}", overrides={}, request_sha256="x"
        )
        assert created
        made.append(job.id)
    running = store.claim_next("me")
    assert running is not None and running.id == made[0]
    store.request_cancel(made[1])  # queued -> cancelled now
    assert store.prune(timedelta(hours=1)) == 0
    assert store.prune(timedelta(seconds=-1)) == 1  # only the finished one
    assert store.get(made[1]) is None and store.events_after(made[1]) == []
    assert store.requeue(reason="test") == [made[0]]
    assert store.get(made[0]).status == "queued"
    store.dispose()


def test_recover_requeues_only_jobs_whose_server_is_gone(tmp_path: Path) -> None:
    import socket

    from sqlalchemy import update

    from api.executor import owner_is_dead

    store = JobStore(f"sqlite:///{tmp_path / 'r.db'}")
    store.migrate()
    owners = {
        "me": "me",
        "alive-elsewhere": "another-host:1:abc",
        "dead-here": f"{socket.gethostname()}:{2**22 + 12345}:abc",
        "stale-elsewhere": "another-host:2:abc",
    }
    ids = {}
    for label, owner in owners.items():
        store.submit(kind="matching", name=label, document="{}", overrides={}, request_sha256=label)
        job = store.claim_next(owner)
        assert job is not None and job.name == label
        ids[label] = job.id
    with store.engine.begin() as conn:
        old = store.get(ids["stale-elsewhere"]).updated_at - timedelta(hours=1)
        conn.execute(
            update(store.jobs)
            .where(store.jobs.c.id == ids["stale-elsewhere"])
            .values(updated_at=old)
        )
    requeued = store.recover("me", lease=timedelta(minutes=1), owner_dead=owner_is_dead)
    assert sorted(requeued) == sorted([ids["dead-here"], ids["stale-elsewhere"]])
    status = {label: store.get(i).status for label, i in ids.items()}
    assert status == {
        "me": "running",
        "alive-elsewhere": "running",
        "dead-here": "queued",
        "stale-elsewhere": "queued",
    }
    # A finish from a server that lost its job is ignored.
    assert not store.finish(ids["dead-here"], status="succeeded", owner=owners["dead-here"])
    assert store.finish(ids["me"], status="succeeded", owner="me")
    store.dispose()
