"""Against a real ``unishare serve`` process on 127.0.0.1: solving, jobs, events, cancel,
restarts, limits and load."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy

from optimizer.registry import KINDS
from tests.api.conftest import (
    API_KEY,
    REPO_ROOT,
    Server,
    instance_bytes,
    job_status,
    kind_params,
    long_groups_instance,
    verify_solution,
    wait_finished,
    wait_for,
)

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]  # real servers

ISSUE_KEYS = {"code", "severity", "path", "detail"}


def assert_issue_shape(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    issues = response.json()["issues"]
    assert issues
    for issue in issues:
        assert set(issue) == ISSUE_KEYS
        assert issue["severity"] in ("error", "warning")
    return list(issues)


DIRECT_SOLVE = """
import sys
from optimizer.core.documents import solve_document
sys.stdout.write(solve_document(sys.stdin.buffer.read()).model_dump_json())
"""


@pytest.fixture(scope="module")
def direct_solutions() -> dict[str, dict[str, Any]]:
    """Each kind's example solved by ``solve_document`` in a fresh process (as the CLI does),
    all kinds in parallel."""
    runs = {}
    for param in kind_params():
        if param.marks:
            continue
        kind = param.values[0]
        process = subprocess.Popen(
            [sys.executable, "-c", DIRECT_SOLVE],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        runs[kind] = (process, instance_bytes(kind))
    found = {}
    for kind, (process, raw) in runs.items():
        out, _ = process.communicate(raw, timeout=120)
        assert process.returncode == 0
        found[kind] = json.loads(out)
    return found


@pytest.mark.parametrize("kind", kind_params())
def test_sync_solve_matches_a_direct_solve(
    server: Server, direct_solutions: dict[str, dict[str, Any]], kind: str
) -> None:
    raw = instance_bytes(kind)
    with server.client() as client:
        response = client.post("/v1/solve", content=raw)
    assert response.status_code == 200, response.text
    solution = response.json()
    direct = direct_solutions[kind]
    assert solution["status"] == direct["status"]
    if direct["objective"] is None:
        assert solution["objective"] is None
    else:
        assert solution["objective"] == pytest.approx(direct["objective"], abs=1e-6)
    if solution["status"] in ("optimal", "feasible"):
        verify_solution(raw, solution)


def test_query_overrides_options_and_time_limit_is_capped(server: Server) -> None:
    kind = next(iter(sorted(KINDS)))
    raw = instance_bytes(kind)
    with server.client() as client:
        response = client.post(
            "/v1/solve", params={"seed": 11, "time_limit_s": 10_000}, content=raw
        )
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run["seed"] == 11
    assert run["time_limit_s"] == 120  # the server's cap, not the query's 10000


@pytest.mark.parametrize("kind", kind_params())
def test_job_submit_poll_solution(server: Server, kind: str) -> None:
    raw = instance_bytes(kind)
    with server.client() as client:
        response = client.post("/v1/jobs", content=raw)
        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) >= {"id", "status", "kind", "name", "links"}
        assert body["kind"] == kind and body["status"] in ("queued", "running")
        assert response.headers["location"] == f"/v1/jobs/{body['id']}"
        job = wait_finished(client, body["id"])
        assert job["status"] == "succeeded", job
        assert job["started_at"] and job["finished_at"] and job["created_at"]
        solution = client.get(body["links"]["solution"])
        assert solution.status_code == 200
        if solution.json()["status"] in ("optimal", "feasible"):
            verify_solution(raw, solution.json())
        listed = client.get("/v1/jobs", params={"kind": kind, "status": "succeeded"}).json()
        assert body["id"] in {j["id"] for j in listed["items"]}
        assert all(j["kind"] == kind and j["status"] == "succeeded" for j in listed["items"])


def test_idempotency_key_returns_the_same_job(server: Server) -> None:
    kind = next(iter(sorted(KINDS)))
    raw = instance_bytes(kind)
    headers = {"Idempotency-Key": "same-" + API_KEY}
    with server.client() as client:
        first = client.post("/v1/jobs", content=raw, headers=headers)
        second = client.post("/v1/jobs", content=raw, headers=headers)
        other = client.post("/v1/jobs", content=raw, headers=headers, params={"seed": 99})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert other.status_code == 409


def read_events(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: ") and name is not None:
                events.append((name, json.loads(line[len("data: ") :])))
    return events  # the stream ended by itself: the server closes it when the job finishes


def test_sse_streams_status_changes_and_improving_solutions(server: Server) -> None:
    document = long_groups_instance(time_limit_s=4)
    with server.client() as client:
        job_id = client.post("/v1/jobs", json=document).json()["id"]
        events = read_events(client, job_id)
        solution = client.get(f"/v1/jobs/{job_id}/solution").json()
    statuses = [data["status"] for name, data in events if name == "status"]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    improving = [data for name, data in events if name == "solution"]
    assert improving, events
    objectives = [e["objective"] for e in improving]
    assert objectives == sorted(objectives)  # maximisation: each one improves
    assert solution["objective"] >= objectives[-1] - 1e-6
    verify_solution(document, solution)


def test_cancel_mid_solve_keeps_the_best_solution(server: Server) -> None:
    document = long_groups_instance(time_limit_s=110, seed=8)
    with server.client() as client:
        job_id = client.post("/v1/jobs", json=document).json()["id"]
        running = wait_for(
            lambda: (j := job_status(client, job_id))["progress"]["solutions"] >= 1 and j,
            60,
            "a first solution",
        )
        assert running["status"] == "running"
        early = client.get(f"/v1/jobs/{job_id}/solution")
        assert early.status_code == 409
        cancel = client.delete(f"/v1/jobs/{job_id}")
        assert cancel.status_code == 202
        # Finished within this deadline, far short of its 110 s limit: the cancel stopped it.
        job = wait_finished(client, job_id, deadline_s=30)
        solution = client.get(f"/v1/jobs/{job_id}/solution").json()
    assert job["status"] == "cancelled"
    assert solution["status"] == "feasible"
    assert solution["objective"] >= running["progress"]["objective"] - 1e-6
    verify_solution(document, solution)


def running_solves(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("unishare_running_solves "):
            return float(line.split()[1])
    raise AssertionError("no unishare_running_solves in /metrics")


def test_a_caller_that_hangs_up_frees_its_worker(server: Server) -> None:
    document = long_groups_instance(time_limit_s=100, seed=12)
    with server.client() as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/solve", json=document, timeout=5)
        # Without the hang-up the solve would hold its worker for 100 s.
        wait_for(lambda: running_solves(client) == 0, 30, "the abandoned solve to stop")


def test_errors_401_404_409_413_422(server: Server) -> None:
    kind = next(iter(sorted(KINDS)))
    raw = instance_bytes(kind)
    with server.client(key=None) as anonymous:
        assert anonymous.post("/v1/solve", content=raw).status_code == 401
        assert anonymous.get("/v1/jobs", headers={"X-API-Key": "wrong"}).status_code == 401
        assert anonymous.get("/v1/jobs", headers={"X-API-Key": API_KEY}).status_code == 200
        assert anonymous.get("/health/live").status_code == 200
        assert anonymous.get("/metrics").status_code == 200
    with server.client() as client:
        assert client.get("/v1/jobs/no-such-job").status_code == 404
        assert client.get("/v1/jobs/no-such-job/solution").status_code == 404
        assert client.delete("/v1/jobs/no-such-job").status_code == 404
        assert client.get("/v1/kinds/no-such-kind/schema").status_code == 404
        # 413: over the server's 200 kB limit, declared and streamed (chunked, no length).
        big = b'{"kind": "matching", "name": "' + b"x" * 300_000 + b'"}'
        assert client.post("/v1/solve", content=big).status_code == 413

        def chunks() -> Any:
            for _ in range(30):
                yield b" " * 10_000

        assert client.post("/v1/jobs", content=chunks()).status_code == 413
        # 422 in the issue shape: malformed JSON, an invalid document, a bad query value.
        malformed = assert_issue_shape(client.post("/v1/solve", content=b'{"kind": '))
        assert malformed[0]["code"] == "malformed_json"
        data = json.loads(raw)
        data["no_such_field"] = 1
        unknown = assert_issue_shape(client.post("/v1/jobs", json=data))
        assert any(i["path"] == "no_such_field" for i in unknown)
        query = assert_issue_shape(client.post("/v1/solve?time_limit_s=soon", content=raw))
        assert query[0]["path"] == "query.time_limit_s"
        assert_issue_shape(client.post("/v1/solve", json=[1, 2]))
        assert_issue_shape(client.post("/v1/solve", content=raw, params={"solver": "magic"}))
        # 409: cancelling a job that already succeeded.
        job_id = client.post("/v1/jobs", content=raw).json()["id"]
        wait_finished(client, job_id)
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 409


def test_fifty_concurrent_jobs_all_finish_verified(server: Server) -> None:
    kinds = [p.values[0] for p in kind_params() if not p.marks]
    documents = [instance_bytes(kinds[i % len(kinds)], time_limit_s=10) for i in range(50)]
    with server.client() as client:

        def submit(raw: bytes) -> str:
            response = client.post("/v1/jobs", content=raw)
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=50) as pool:
            ids = list(pool.map(submit, documents))
        assert len(set(ids)) == 50
        for job_id, raw in zip(ids, documents, strict=True):
            job = wait_finished(client, job_id, deadline_s=150)
            assert job["status"] == "succeeded", job
            solution = client.get(f"/v1/jobs/{job_id}/solution").json()
            if solution["status"] in ("optimal", "feasible"):
                verify_solution(raw, solution)
        metrics = client.get("/metrics").text
    assert "unishare_jobs{" in metrics and "unishare_solve_duration_seconds_bucket" in metrics


def test_restart_loses_no_job_and_a_full_queue_is_429(make_server: Callable[..., Server]) -> None:
    kind = next(iter(sorted(KINDS)))
    raw = instance_bytes(kind)
    first = make_server(max_concurrent_solves=1, max_queued_jobs=3).start()
    with first.client() as client:
        done_id = client.post("/v1/jobs", content=raw).json()["id"]
        wait_finished(client, done_id)
        long_doc = long_groups_instance(time_limit_s=3, seed=9)
        long_id = client.post("/v1/jobs", json=long_doc).json()["id"]
        wait_for(lambda: job_status(client, long_id)["status"] == "running", 60, "running")
        queued_ids = [client.post("/v1/jobs", content=raw).json()["id"] for _ in range(3)]
        assert all(job_status(client, j)["status"] == "queued" for j in queued_ids)
        full = client.post("/v1/jobs", content=raw)
        assert full.status_code == 429 and int(full.headers["retry-after"]) > 0
    first.kill()  # a crash: no chance to requeue anything
    second = make_server(max_concurrent_solves=1)
    second.env = first.env
    second.start()
    with second.client() as client:
        done = client.get(f"/v1/jobs/{done_id}/solution")
        assert done.status_code == 200
        for job_id in [long_id, *queued_ids]:
            job = wait_finished(client, job_id, deadline_s=90)
            assert job["status"] == "succeeded", job
        assert job_status(client, long_id)["attempts"] == 2
        verify_solution(long_doc, client.get(f"/v1/jobs/{long_id}/solution").json())
        for job_id in queued_ids:
            verify_solution(raw, client.get(f"/v1/jobs/{job_id}/solution").json())
        # A graceful stop (SIGTERM) puts the running solve back in the queue itself.
        stopped_doc = long_groups_instance(time_limit_s=60, seed=10)
        stopped_id = client.post("/v1/jobs", json=stopped_doc).json()["id"]
        wait_for(lambda: job_status(client, stopped_id)["status"] == "running", 60, "running")
    second.stop()
    database = first.env["UNISHARE_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "select status, attempts from unishare_jobs where id = ?", (stopped_id,)
        ).fetchone()
    assert row == ("queued", 1)


def test_postgresql_as_the_store(make_server: Callable[..., Server], postgres_url: str) -> None:
    prefix = "pg_"  # not the default: the prefix reaches every table, the version's too
    kind = next(iter(sorted(KINDS)))
    raw = instance_bytes(kind)
    srv = make_server(postgres_url, table_prefix=prefix, max_concurrent_solves=1).start()
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with srv.client() as client:
            job_id = client.post("/v1/jobs", content=raw).json()["id"]
            job = wait_finished(client, job_id)
            assert job["status"] == "succeeded"
            verify_solution(raw, client.get(f"/v1/jobs/{job_id}/solution").json())
            assert client.post("/v1/solve", content=raw).status_code == 200
        srv.stop()
        with engine.connect() as conn:
            stored = conn.execute(
                sqlalchemy.text(f"select status from {prefix}jobs where id = :id"), {"id": job_id}
            ).scalar_one()
        assert stored == "succeeded"
    finally:
        srv.stop()
        engine.dispose()
