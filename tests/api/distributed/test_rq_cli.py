"""``unishare solve DIR --queue redis://…`` against real workers, and a synchronous solve whose
worker is killed: the caller gets the reason, not a hang."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import REPO_ROOT, long_groups_instance, verify_solution, wait_for
from tests.api.distributed.conftest import Cluster, children
from tests.api.distributed.test_rq import tiny_matching

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_solve_queue_fans_out_and_keeps_the_exit_codes(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = make_cluster()
    cluster.workers.start(2)
    folder = tmp_path / "batch"
    folder.mkdir()
    documents = {f"tiny-{seed}": tiny_matching(seed) for seed in range(6)}
    for stem, document in documents.items():
        (folder / f"{stem}.json").write_text(json.dumps(document))
    out = tmp_path / "solutions"
    env = {**cluster.env(), "UNISHARE_QUEUE_NAME": cluster.queueing.queue_name}

    def solve(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "optimizer",
                "solve",
                *map(str, paths),
                "--queue",
                cluster.queueing.url,
                "-o",
                str(out),
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    run = solve(folder)
    assert run.returncode == 0, run.stderr
    assert "UniShare solve summary" in run.stdout
    for stem, document in documents.items():
        solution = json.loads((out / f"{stem}.solution.json").read_text())
        assert solution["name"] == stem
        verify_solution(document, solution)

    (folder / "broken.json").write_text('{"kind": "matching", "institutions": 3}')
    run = solve(folder)
    assert run.returncode == 2, run.stdout
    broken = json.loads((out / "broken.solution.json").read_text())
    assert broken["status"] == "invalid" and broken["issues"]
    assert all((out / f"{stem}.solution.json").is_file() for stem in documents)


def test_a_sync_solve_whose_worker_is_killed_answers_with_the_reason(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster()
    (worker,) = cluster.workers.start(1)
    server = cluster.server()
    answer: dict[str, Any] = {}

    def call() -> None:
        with server.client(timeout=120) as client:
            document = long_groups_instance(time_limit_s=100, seed=61)
            response = client.post("/v1/solve", content=json.dumps(document).encode())
            answer["status"], answer["body"] = response.status_code, response.json()

    caller = threading.Thread(target=call)
    caller.start()
    (horse,) = wait_for(lambda: children(worker.pid), 90, "the worker to fork its horse")
    cluster.workers.kill_running(horse)
    caller.join(timeout=90)
    assert not caller.is_alive()
    assert answer["status"] == 500, answer
    assert answer["body"]["status"] == "error"
    assert "worker stopped" in answer["body"]["explanations"][0]["detail"]
    # The service goes on: a new worker serves the next solve.
    cluster.workers.start(1)
    with server.client() as client:
        tiny = tiny_matching(4)
        response = client.post("/v1/solve", json=tiny)
        assert response.status_code == 200, response.text
        verify_solution(tiny, response.json())
