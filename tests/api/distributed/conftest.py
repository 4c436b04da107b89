"""Fixtures for the RQ executor: a Redis server of the test's own, ``unishare worker``
subprocesses, and API servers pointed at both.

Each test starts ``redis-server`` on a free loopback port when the binary exists (so that
restarting it disturbs nobody else); otherwise it uses ``UNISHARE_TEST_REDIS_URL`` or
127.0.0.1:6379 with a queue name of its own, and skips only when no Redis answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.store import Job, JobStore
from tests.api.conftest import (
    REPO_ROOT,
    STARTUP_DEADLINE_S,
    Server,
    free_port,
    server_env,
    wait_for,
)

SHARED_REDIS_URL = os.environ.get("UNISHARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_answers(url: str) -> bool:
    from redis import Redis

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own on loopback, keeping nothing on disk."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None
        # Nothing on disk, as the machine's own Redis: a restart empties it.
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), *options, "--dir", str(self.folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(lambda: redis_answers(self.url), 30, "redis-server to answer")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same port: every queued RQ job is gone (nothing on disk)."""
        self.stop()
        self.start()


@dataclass
class Queueing:
    """Where the test's jobs go: a Redis URL and a queue name of its own."""

    url: str
    queue_name: str
    own: RedisServer | None

    def restart(self) -> None:
        if self.own is None:
            pytest.skip("restarting Redis needs redis-server on this machine")
        self.own.restart()

    def connection(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.url)

    def worker_count(self) -> int:
        from rq import Queue, Worker

        with self.connection() as connection:
            return len(Worker.all(queue=Queue(self.queue_name, connection=connection)))


@pytest.fixture
def queueing(tmp_path: Path) -> Iterator[Queueing]:
    name = f"t{uuid.uuid4().hex[:10]}"
    if shutil.which("redis-server"):
        own = RedisServer(tmp_path).start()
        try:
            yield Queueing(own.url, name, own)
        finally:
            own.stop()
        return
    if not redis_answers(SHARED_REDIS_URL):
        pytest.skip(
            f"no redis-server binary and no Redis at {SHARED_REDIS_URL} "
            "(set UNISHARE_TEST_REDIS_URL)"
        )
    yield Queueing(SHARED_REDIS_URL, name, None)


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (a worker's work horses)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: read after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class Workers:
    """``unishare worker`` subprocesses, each leading its own process group."""

    env: dict[str, str]
    folder: Path
    queueing: Queueing
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, n: int = 1) -> list[subprocess.Popen[bytes]]:
        before = self.queueing.worker_count()
        started = []
        for _ in range(n):
            log = (self.folder / f"worker-{len(self.processes)}.log").open("ab")
            process = subprocess.Popen(
                [sys.executable, "-m", "optimizer", "worker", "--log-level", "warning"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self.processes.append(process)
            started.append(process)

        def registered() -> bool:
            for p in started:
                if p.poll() is not None:
                    logs = "\n".join(f.read_text() for f in self.folder.glob("worker-*.log"))
                    raise AssertionError(f"a worker exited: {logs}")
            return self.queueing.worker_count() >= before + n

        wait_for(registered, STARTUP_DEADLINE_S, f"{n} workers to register", interval_s=0.2)
        return started

    def kill_running(self, horse_pid: int) -> None:
        """kill -9 a work horse and the worker that forked it, as a machine dying would."""
        worker = parent_of(horse_pid)
        kill_group(horse_pid)
        kill_group(worker)
        for p in self.processes:
            if p.pid == worker:
                p.wait(timeout=30)

    def stop(self) -> None:
        for p in self.processes:
            horses = children(p.pid) if p.poll() is None else []
            kill_group(p.pid)
            for horse in horses:
                kill_group(horse)
            p.wait(timeout=30)
        self.processes.clear()


@dataclass
class Cluster:
    """API servers, workers and one job store, all pointed at one Redis."""

    queueing: Queueing
    database_url: str
    folder: Path
    settings: dict[str, Any]
    workers: Workers
    servers: list[Server] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return server_env(
            self.database_url,
            redis_url=self.queueing.url,
            queue_name=self.queueing.queue_name,
            **self.settings,
        )

    def server(self) -> Server:
        srv = Server(env=self.env(), log_path=self.folder / f"server-{len(self.servers)}.log")
        self.servers.append(srv)
        return srv.start()

    def job(self, job_id: str) -> Job:
        """The job as the store holds it (with its owner, which the API does not show)."""
        store = JobStore(self.database_url)
        try:
            job = store.get(job_id)
        finally:
            store.dispose()
        assert job is not None
        return job

    def horse_of(self, job_id: str) -> int:
        """The pid of the work horse running ``job_id`` (owners are ``host:pid:token``)."""
        owner = self.job(job_id).owner
        assert owner is not None
        return int(owner.split(":")[1])

    def stop(self) -> None:
        for srv in self.servers:
            srv.stop()
        self.workers.stop()


@pytest.fixture
def make_cluster(queueing: Queueing, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """A cluster on SQLite under tmp_path, or on ``database_url`` when given."""
    made: list[Cluster] = []

    def make(database_url: str | None = None, **settings: Any) -> Cluster:
        url = database_url or f"sqlite:///{tmp_path / 'jobs.db'}"
        settings.setdefault("max_time_limit_s", 120)
        settings.setdefault("cancel_grace_s", 3)
        env = server_env(url, redis_url=queueing.url, queue_name=queueing.queue_name, **settings)
        cluster = Cluster(queueing, url, tmp_path, settings, Workers(env, tmp_path, queueing))
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
