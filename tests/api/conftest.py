"""Fixtures for the HTTP service: a real ``unishare serve`` process, and example documents."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from optimizer.core.documents import parse_document
from optimizer.matching.generate import slot_groups_document
from optimizer.registry import KINDS

REPO_ROOT = Path(__file__).resolve().parents[2]
# Trust authentication on loopback; each test that uses it makes its own database there.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
API_KEY = "test-key-" + uuid.uuid4().hex
STARTUP_DEADLINE_S = 120.0
FINISHED = {"succeeded", "failed", "cancelled"}


def smallest_instance(kind: str) -> Path | None:
    folder = REPO_ROOT / "instances" / kind
    files = [p for p in folder.glob("*.json") if not p.name.endswith(".solution.json")]
    return min(files, key=lambda p: (p.stat().st_size, p.name)) if files else None


def kind_params() -> list[Any]:
    """One parameter per registered kind; kinds without an example instance are skipped."""
    params = []
    for kind in sorted(KINDS):
        path = smallest_instance(kind)
        marks = [] if path else [pytest.mark.skip(reason=f"no example under instances/{kind}/")]
        params.append(pytest.param(kind, id=kind, marks=marks))
    return params


def instance_bytes(kind: str, *, time_limit_s: float = 10.0, threads: int = 1) -> bytes:
    """The smallest example of ``kind``, as posted; only its options are tightened for tests."""
    path = smallest_instance(kind)
    assert path is not None
    data = json.loads(path.read_text(encoding="utf-8"))
    options = data.setdefault("options", {})
    options["time_limit_s"] = min(float(options.get("time_limit_s", 30)), time_limit_s)
    options["threads"] = threads
    return json.dumps(data).encode()


def long_groups_instance(time_limit_s: float, *, n: int = 30, seed: int = 7) -> dict[str, Any]:
    """Consortia of up to 8 among ``n`` institutions: far too many candidate groups to list,
    so CP-SAT's slot model runs, finds solutions within seconds and cannot close the gap
    for a long time. Used where a solve must still be running when the test acts."""
    return slot_groups_document(n, seed, time_limit_s=time_limit_s, name=f"long-groups-{seed}")


def verify_solution(document: bytes | dict[str, Any], solution: dict[str, Any]) -> None:
    """The returned solution passes the kind's independent verifier, with the same objective."""
    parsed = parse_document(document)
    assert parsed.instance is not None and parsed.kind is not None
    assert solution["kind"] == parsed.kind
    assert solution["status"] in ("optimal", "feasible"), solution["status"]
    check = KINDS[parsed.kind].verify(parsed.instance, solution["solution"])
    assert check.valid, check.violations
    assert check.objective == pytest.approx(solution["objective"], abs=1e-6)


def wait_for(
    condition: Callable[[], Any], deadline_s: float, what: str, interval_s: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something truthy, failing after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``unishare serve`` subprocess on loopback."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str | None = API_KEY, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def start(self) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "optimizer",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        with httpx.Client(base_url=self.url, timeout=5.0) as probe:

            def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited: {self.log_path.read_text()}")
                try:
                    return probe.get("/health/ready").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, STARTUP_DEADLINE_S, "/health/ready", interval_s=0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the server and its process group (as a crash would); workers follow."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.kill()


def server_env(database_url: str, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISHARE_")}
    env["UNISHARE_DATABASE_URL"] = database_url
    env["UNISHARE_API_KEYS"] = f"other-key,{API_KEY}"
    for name, value in settings.items():
        env[f"UNISHARE_{name.upper()}"] = str(value)
    return env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that do not restart it."""
    folder = tmp_path_factory.mktemp("server")
    env = server_env(
        f"sqlite:///{folder / 'jobs.db'}",
        max_concurrent_solves=2,
        max_body_bytes=200_000,
        max_time_limit_s=120,
        cancel_grace_s=5,
    )
    srv = Server(env=env, log_path=folder / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Servers with their own settings, stopped at the end of the test."""
    started: list[Server] = []

    def make(database_url: str | None = None, **settings: Any) -> Server:
        url = database_url or f"sqlite:///{tmp_path / 'jobs.db'}"
        srv = Server(env=server_env(url, **settings), log_path=tmp_path / "server.log")
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database (``unishare_api_<random>``), dropped afterwards, so
    that tests running in parallel elsewhere never see each other's tables."""
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    name = f"unishare_api_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def job_status(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_finished(client: httpx.Client, job_id: str, deadline_s: float = 60.0) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (job := job_status(client, job_id))["status"] in FINISHED and job,
            deadline_s,
            f"job {job_id} to finish",
            interval_s=0.2,
        )
    )
