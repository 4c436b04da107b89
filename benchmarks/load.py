"""Load on the HTTP service with the local and the RQ executor side by side, on loopback only.

    python -m benchmarks.load                        # everything below, about five minutes
    python -m benchmarks.load --clients 200 --requests 2000 --workers 1 2 4

It starts its own servers (SQLite in a temporary folder) and, for RQ, its own ``redis-server``
on a free loopback port and ``unishare worker`` processes; it stops them all at the end. Every
loop is bounded in count and in time.

1. Mixed load: ``--clients`` concurrent clients send ``--requests`` requests in all, mixing
   POST /v1/validate (half), POST /v1/solve of a tiny instance (a quarter) and POST /v1/jobs
   (a quarter); then every submitted job is waited for. p50/p95 latency per request type,
   requests per second, errors (any non-2xx, or a job that did not succeed).
2. Job throughput against workers: ``--jobs`` jobs of a small example, submitted at once,
   drained by 1, 2 and 4 RQ workers (and by the local executor, for comparison); then the
   same with ``--cpu-jobs`` CPU-bound jobs (a CP-SAT proof of a fixed amount of work on one
   thread), where the machine's cores cap the throughput.
3. Job-path overhead: each kind's smallest example solved by a direct in-process ``solve()``
   and through ``POST /v1/jobs`` on an idle server, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from benchmarks.service import direct_once, percentile, smallest_examples, tiny_matching
from optimizer.matching.generate import slot_groups_document

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
STARTUP_S = 120.0
# No run of this script may outlast this, whatever its arguments.
HARD_LIMIT_S = 1200.0
SMALL_EXAMPLE = ROOT / "instances" / "matching" / "chongqing-alliance.json"
SECTIONS = ("mixed", "jobs", "cpu", "overhead")


def cpu_bound(seed: int = 7, n: int = 12) -> dict[str, Any]:
    """A job of a fixed amount of work: CP-SAT proves the optimum after about 0.7
    CPU-seconds on one thread (seeded, so every job does the same work). A job held only
    by a time limit would not do: it stops after so many wall-clock seconds however little
    CPU it got, and more workers than cores would then just search less each."""
    return slot_groups_document(n, seed, time_limit_s=120, name=f"cpu-bound-{seed}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, what: str, deadline_s: float = STARTUP_S) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass
class Stack:
    """An API server (and, for RQ, a Redis server and workers) on loopback."""

    executor: str
    workers: int
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="unishare-load-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    url: str = ""

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as out:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start(self) -> Stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNISHARE_")}
        env["UNISHARE_DATABASE_URL"] = f"sqlite:///{self.folder}/jobs.db"
        env["UNISHARE_MAX_QUEUED_JOBS"] = "100000"
        env["UNISHARE_MAX_CONCURRENT_SOLVES"] = str(self.workers)
        if self.executor == "rq":
            binary = shutil.which("redis-server")
            if binary is None:
                raise SystemExit("the RQ runs need redis-server on this machine")
            port = free_port()
            self._spawn(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    LOOPBACK,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                env,
                "redis.log",
            )
            env["UNISHARE_REDIS_URL"] = f"redis://{LOOPBACK}:{port}/0"
            for i in range(self.workers):
                self._spawn(
                    [sys.executable, "-m", "optimizer", "worker", "--log-level", "warning"],
                    env,
                    f"worker-{i}.log",
                )
        port = free_port()
        self.url = f"http://{LOOPBACK}:{port}"
        self._spawn(
            [
                sys.executable,
                "-m",
                "optimizer",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env,
            "server.log",
        )

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, f"the server (logs in {self.folder})")
        if self.executor == "rq":
            # Every worker has registered: a tiny synchronous solve per worker goes through.
            with httpx.Client(base_url=self.url, timeout=120) as client:
                for _ in range(self.workers):
                    client.post("/v1/solve", json=tiny_matching()).raise_for_status()
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def stack(executor: str, workers: int) -> Iterator[Stack]:
    running = Stack(executor, workers).start()
    try:
        yield running
    finally:
        running.stop()


# -- 1. mixed load --------------------------------------------------------------------------


async def get_retrying(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """A GET, tried again when the server closed an idle keep-alive connection under it."""
    for attempt in range(3):
        try:
            return await client.get(path)
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def wait_jobs(client: httpx.AsyncClient, ids: list[str], deadline_s: float) -> int:
    """Jobs that did not succeed by the deadline (failed, cancelled or unfinished)."""
    pending = set(ids)
    bad = 0
    end = time.monotonic() + deadline_s
    while pending and time.monotonic() < end:
        for job_id in list(pending):
            status = (await get_retrying(client, f"/v1/jobs/{job_id}")).json()["status"]
            if status in ("succeeded", "failed", "cancelled"):
                pending.discard(job_id)
                bad += status != "succeeded"
        if pending:
            await asyncio.sleep(0.5)
    return bad + len(pending)


async def mixed(url: str, clients: int, requests: int, duration_s: float) -> dict[str, Any]:
    bodies = [tiny_matching(i % 3) for i in range(3)]
    latencies: dict[str, list[float]] = {"validate": [], "solve": [], "job": []}
    errors = 0
    job_ids: list[str] = []
    counter = iter(range(requests))
    end = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one_client() -> None:
            nonlocal errors
            for i in counter:
                if time.monotonic() > end:
                    return
                what = ("validate", "solve", "validate", "job")[i % 4]
                path = {"validate": "/v1/validate", "solve": "/v1/solve", "job": "/v1/jobs"}[what]
                started = time.perf_counter()
                try:
                    response = await client.post(path, json=bodies[i % 3])
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies[what].append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors += 1
                elif what == "job":
                    job_ids.append(response.json()["id"])

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        failed_jobs = await wait_jobs(client, job_ids, deadline_s=300)
        drained = time.perf_counter() - started
    done = sum(len(v) for v in latencies.values())
    return {
        "requests": done,
        "errors": errors,
        "failed_jobs": failed_jobs,
        "rps": done / wall,
        "jobs": len(job_ids),
        "drained_s": drained,
        "latency": {k: (percentile(v, 50), percentile(v, 95)) for k, v in latencies.items() if v},
    }


# -- 2. job throughput --------------------------------------------------------------------


def job_throughput(url: str, raw: bytes, jobs: int) -> float:
    """Jobs per second: ``jobs`` submitted at once, until the last has finished."""
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        ids = [client.post("/v1/jobs", content=raw).json()["id"] for _ in range(jobs)]
        bad = asyncio.run(_wait_sync(url, ids))
        wall = time.perf_counter() - started
    if bad:
        print(f"  warning: {bad} jobs did not succeed", file=sys.stderr)
    return jobs / wall


async def _wait_sync(url: str, ids: list[str]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await wait_jobs(client, ids, deadline_s=600)


# -- 3. job-path overhead -------------------------------------------------------------------


def job_latency(url: str, raw: bytes) -> float:
    """Submit, poll until finished (every 20 ms), fetch the solution: seconds end to end."""
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        job_id = client.post("/v1/jobs", content=raw).json()["id"]
        while client.get(f"/v1/jobs/{job_id}").json()["status"] not in (
            "succeeded",
            "failed",
            "cancelled",
        ):
            time.sleep(0.02)
        client.get(f"/v1/jobs/{job_id}/solution").raise_for_status()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=120.0, help="Cap on the mixed load (s).")
    parser.add_argument("--jobs", type=int, default=60, help="Jobs per throughput row.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cpu-jobs", type=int, default=16, help="CPU-bound jobs per row.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    signal.alarm(int(HARD_LIMIT_S))  # bounded in time, whatever happens

    if "mixed" in args.sections:
        mixed_section(args)
    if "jobs" in args.sections:
        throughput_section(SMALL_EXAMPLE.read_bytes(), SMALL_EXAMPLE.name, args.jobs, args.workers)
    if "cpu" in args.sections:
        raw = json.dumps(cpu_bound()).encode()
        throughput_section(raw, "a CP-SAT proof (~0.7 CPU-s)", args.cpu_jobs, args.workers)
    if "overhead" in args.sections:
        overhead_section(args.repeats)


def mixed_section(args: argparse.Namespace) -> None:
    print(
        f"mixed load: {args.clients} clients, {args.requests} requests (validate 1/2, "
        "solve 1/4, job 1/4), then every job waited for"
    )
    print(
        f"{'executor':<12} {'req/s':>7} {'errors':>6} {'jobs ok':>9} "
        f"{'validate p50/p95 ms':>20} {'solve p50/p95 ms':>18} {'job p50/p95 ms':>16} {'drained s':>9}"
    )
    for executor, workers in (("local", 2), ("rq", 2)):
        with stack(executor, workers) as running:
            r = asyncio.run(mixed(running.url, args.clients, args.requests, args.duration))
        lat = {k: f"{v[0] * 1e3:.0f}/{v[1] * 1e3:.0f}" for k, v in r["latency"].items()}
        print(
            f"{executor + f' ({workers})':<12} {r['rps']:>7.0f} {r['errors']:>6} "
            f"{r['jobs'] - r['failed_jobs']:>4}/{r['jobs']:<4} {lat.get('validate', '-'):>20} "
            f"{lat.get('solve', '-'):>18} {lat.get('job', '-'):>16} {r['drained_s']:>9.1f}"
        )


def throughput_section(raw: bytes, what: str, jobs: int, worker_counts: list[int]) -> None:
    print()
    print(f"job throughput: {jobs} jobs of {what} submitted at once")
    print(f"{'executor':<12} {'workers':>7} {'jobs/s':>7}")
    for workers in worker_counts:
        for executor in ("local", "rq"):
            with stack(executor, workers) as running:
                rate = job_throughput(running.url, raw, jobs)
            print(f"{executor:<12} {workers:>7} {rate:>7.2f}", flush=True)


def overhead_section(repeats: int) -> None:
    print()
    print(f"job path vs direct solve(), median of {repeats}")
    print(
        f"{'instance':<36} {'direct s':>9} {'local job s':>12} {'rq job s':>9} "
        f"{'local +s':>9} {'rq +s':>7}"
    )
    examples = smallest_examples()
    for body in examples.values():
        direct_once(body)  # imports and first-call costs are not the solve's
    direct = {
        n: statistics.median(direct_once(r) for _ in range(repeats)) for n, r in examples.items()
    }
    via: dict[str, dict[str, float]] = {}
    for executor in ("local", "rq"):
        with stack(executor, 1) as running:
            for name, body in examples.items():
                job_latency(running.url, body)  # warm up
                runs = [job_latency(running.url, body) for _ in range(repeats)]
                via.setdefault(name, {})[executor] = statistics.median(runs)
    for name in examples:
        d, lo, rq = direct[name], via[name]["local"], via[name]["rq"]
        print(f"{name:<36} {d:>9.3f} {lo:>12.3f} {rq:>9.3f} {lo - d:>9.3f} {rq - d:>7.3f}")


if __name__ == "__main__":
    main()
