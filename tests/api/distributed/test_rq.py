"""The RQ executor against real Redis, real workers and real API servers on 127.0.0.1:
throughput over several workers, workers and servers killed mid-flight, Redis restarted,
cancels, the memory limit, and two API servers sharing one PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.api.conftest import (
    FINISHED,
    instance_bytes,
    job_status,
    long_groups_instance,
    verify_solution,
    wait_finished,
    wait_for,
)
from tests.api.distributed.conftest import Cluster

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def tiny_matching(seed: int) -> dict[str, Any]:
    """Six institutions in pairs: solved in milliseconds, so the queue path dominates."""
    disciplines = ["engineering", "medicine", "agriculture"]
    institutions = []
    for i in range(6):
        strong, weak = disciplines[(i + seed) % 3], disciplines[(i + seed + 1) % 3]
        institutions.append(
            {"id": f"i{i}", "strengths": {strong: 0.9, weak: 0.1}, "needs": {weak: 0.7}}
        )
    return {
        "kind": "matching",
        "name": f"tiny-{seed}",
        "institutions": institutions,
        "options": {"time_limit_s": 5, "threads": 1},
    }


def submit(client: httpx.Client, document: dict[str, Any] | bytes) -> str:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    response = client.post("/v1/jobs", content=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def solution_of(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/solution")
    assert response.status_code == 200, response.text
    return dict(response.json())


def events_of(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The whole event stream of a finished job (the stream ends when the job has)."""
    found = []
    event = ""
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                found.append((event, json.loads(line.split(":", 1)[1])))
    return found


def running_with_solution(client: httpx.Client, job_id: str) -> Callable[[], bool]:
    def check() -> bool:
        job = job_status(client, job_id)
        assert job["status"] not in FINISHED, job
        return bool(job["status"] == "running" and job["progress"]["solutions"] >= 1)

    return check


def test_three_workers_run_fifty_jobs_and_sync_solves(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster()
    cluster.workers.start(3)
    server = cluster.server()
    documents = [tiny_matching(seed) for seed in range(50)]
    with server.client() as client:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda d: submit(client, d), documents))
        for job_id, document in zip(ids, documents, strict=True):
            job = wait_finished(client, job_id, deadline_s=120)
            assert job["status"] == "succeeded", job
            verify_solution(document, solution_of(client, job_id))
        # Every worker took a share: the queue fans out.
        owners = {cluster.job(j).owner.split(":")[1] for j in ids}  # type: ignore[union-attr]
        assert len(owners) > 1
        kinds = [e for e, _ in events_of(client, ids[0])]
        assert kinds[0] == "status" and kinds[-1] == "status"
        # POST /v1/solve goes through the workers too.
        for kind in ("matching", "instruments", "loans"):
            raw = instance_bytes(kind)
            response = client.post("/v1/solve", content=raw)
            assert response.status_code == 200, response.text
            verify_solution(raw, response.json())
        invalid = client.post("/v1/solve", content=b'{"kind": "matching", "institutions": 3}')
        assert invalid.status_code == 422


def test_a_killed_worker_s_job_runs_again_then_fails_when_attempts_run_out(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(max_attempts=2)
    cluster.workers.start(2)
    server = cluster.server()
    document = long_groups_instance(time_limit_s=5, seed=31)
    with server.client() as client:
        job_id = submit(client, document)
        wait_for(running_with_solution(client, job_id), 90, "the job to run")
        first = cluster.horse_of(job_id)
        cluster.workers.kill_running(first)
        job = wait_finished(client, job_id, deadline_s=120)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert cluster.horse_of(job_id) != first
        verify_solution(document, solution_of(client, job_id))
        requeued = [d for e, d in events_of(client, job_id) if d.get("status") == "queued"]
        assert any(d.get("reason") == "its worker stopped" for d in requeued)

        # Killed on every run: failed with the reason once max_attempts runs have died.
        cluster.workers.start(1)
        doomed = submit(client, long_groups_instance(time_limit_s=60, seed=32))
        for attempt in (1, 2):
            wait_for(
                lambda a=attempt: (
                    (j := job_status(client, doomed))["status"] == "running" and j["attempts"] == a
                ),
                90,
                f"run {attempt} of the doomed job",
            )
            cluster.workers.kill_running(cluster.horse_of(doomed))
        job = wait_finished(client, doomed, deadline_s=60)
        assert job["status"] == "failed"
        assert "each of 2 runs" in job["error"]
        assert solution_of(client, doomed)["status"] == "error"


def test_a_killed_api_server_loses_no_job(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    cluster.workers.start(2)
    server = cluster.server()
    raw = instance_bytes("matching", time_limit_s=5)
    accepted: list[str] = []

    def one(_: int) -> None:
        try:
            with server.client(timeout=10) as client:
                accepted.append(submit(client, raw))
        except httpx.TransportError:
            pass  # the server died under this request: the client never learnt an id

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(one, i) for i in range(40)]
        wait_for(lambda: len(accepted) >= 12, 60, "a dozen accepted jobs")
        server.kill()
        for future in futures:
            future.result()
    assert accepted
    restarted = cluster.server()
    with restarted.client() as client:
        for job_id in accepted:
            job = wait_finished(client, job_id, deadline_s=120)
            assert job["status"] == "succeeded", job
            verify_solution(raw, solution_of(client, job_id))
        # Stored but unanswered jobs too: nothing is left queued or running.
        wait_for(
            lambda: all(
                j["status"] in FINISHED for j in client.get("/v1/jobs?limit=500").json()["items"]
            ),
            120,
            "every stored job to finish",
        )


def test_jobs_waiting_through_a_redis_restart_still_run(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster()
    server = cluster.server()
    documents = [tiny_matching(seed) for seed in range(5)]
    with server.client() as client:
        ids = [submit(client, d) for d in documents]
        cluster.queueing.restart()  # no worker yet: the jobs were only on Redis's lists
        with cluster.queueing.connection() as redis:
            assert redis.dbsize() == 0
        wait_for(lambda: client.get("/health/ready").status_code == 200, 60, "readiness again")
        cluster.workers.start(1)
        for job_id, document in zip(ids, documents, strict=True):
            job = wait_finished(client, job_id, deadline_s=90)
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 1
            verify_solution(document, solution_of(client, job_id))


def test_cancel_queued_running_and_hung_jobs(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(cancel_grace_s=3)
    cluster.workers.start(1)
    server = cluster.server()
    with server.client() as client:
        long_doc = long_groups_instance(time_limit_s=100, seed=41)
        running = submit(client, long_doc)
        wait_for(running_with_solution(client, running), 90, "the long job to find a solution")
        waiting = submit(client, tiny_matching(1))  # the only worker is busy
        response = client.delete(f"/v1/jobs/{waiting}")
        assert response.status_code == 202 and response.json()["status"] == "cancelled"

        response = client.delete(f"/v1/jobs/{running}")
        assert response.status_code == 202
        job = wait_finished(client, running, deadline_s=60)
        assert job["status"] == "cancelled", job
        assert job["error"] is None  # stopped by its flag, not killed
        verify_solution(long_doc, solution_of(client, running))
        assert any(e == "solution" for e, _ in events_of(client, running))

        # The cancelled job's queue entry runs nothing when the worker reaches it.
        after = submit(client, tiny_matching(2))
        assert wait_finished(client, after)["status"] == "succeeded"
        assert job_status(client, waiting)["attempts"] == 0

        # A horse that cannot answer (SIGSTOP) is killed with RQ's stop-job command.
        hung = submit(client, long_groups_instance(time_limit_s=100, seed=42))
        wait_for(running_with_solution(client, hung), 90, "the hung job to run")
        horse = cluster.horse_of(hung)
        os.kill(horse, signal.SIGSTOP)
        assert client.delete(f"/v1/jobs/{hung}").status_code == 202
        job = wait_finished(client, hung, deadline_s=60)
        assert job["status"] == "cancelled"
        assert "grace" in job["error"]
        wait_for(lambda: not _exists(horse), 30, "the hung horse to be gone")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0 until its worker reaps it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_api_servers_share_one_postgres_database(
    make_cluster: Callable[..., Cluster], postgres_url: str
) -> None:
    cluster = make_cluster(postgres_url)
    cluster.workers.start(2)
    first, second = cluster.server(), cluster.server()
    document = long_groups_instance(time_limit_s=100, seed=51)
    with first.client() as a, second.client() as b:
        job_id = submit(a, document)
        # Progress written by the worker reaches the other server.
        wait_for(running_with_solution(b, job_id), 90, "progress seen on the second server")
        assert job_id in {j["id"] for j in b.get("/v1/jobs").json()["items"]}
        assert b.delete(f"/v1/jobs/{job_id}").status_code == 202
        job = wait_finished(a, job_id, deadline_s=60)
        assert job["status"] == "cancelled"
        verify_solution(document, solution_of(b, job_id))
        streamed = events_of(b, job_id)
        assert [d["status"] for e, d in streamed if e == "status"] == [
            "queued",
            "running",
            "cancelled",
        ]
        tiny = tiny_matching(3)
        other = submit(b, tiny)
        assert wait_finished(a, other)["status"] == "succeeded"
        verify_solution(tiny, solution_of(a, other))
        raw = instance_bytes("loans")
        response = b.post("/v1/solve", content=raw)
        assert response.status_code == 200, response.text
        verify_solution(raw, response.json())


def test_the_memory_limit_applies_in_the_work_horse(make_cluster: Callable[..., Cluster]) -> None:
    # A limit just above what a worker with the solvers loaded already maps: the solve cannot
    # build its model, and its job fails with the reason instead of the host suffering.
    probe = make_cluster()
    (worker,) = probe.workers.start(1)
    status = Path(f"/proc/{worker.pid}/status").read_text()
    mapped_kb = int(next(x for x in status.splitlines() if x.startswith("VmSize:")).split()[1])
    probe.workers.stop()
    cluster = make_cluster(worker_memory_mb=mapped_kb // 1024 + 16)
    cluster.workers.start(1)
    server = cluster.server()
    with server.client() as client:
        job_id = submit(client, long_groups_instance(time_limit_s=5, n=60, seed=71))
        job = wait_finished(client, job_id, deadline_s=90)
        assert job["status"] == "failed", job
        assert "memory" in job["error"].lower(), job["error"]
        assert job["attempts"] == 1  # a solve that failed is not a worker that died
