"""Throughput and latency of the HTTP service, and the overhead of the job path.

    python -m benchmarks.service                 # starts its own server on a temp SQLite file
    python -m benchmarks.service --url http://127.0.0.1:8000 --api-key KEY

1. ``POST /v1/solve`` on a tiny matching instance with 1, 4 and 16 concurrent clients:
   requests per second and latency percentiles.
2. The job path (``POST /v1/jobs``, wait for the end on the event stream, fetch the solution)
   against a direct in-process ``solve()`` of the same instances (the smallest example of each
   kind): the per-job overhead and its ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from optimizer.core.documents import parse_document
from optimizer.registry import KINDS

ROOT = Path(__file__).resolve().parent.parent


def tiny_matching(seed: int = 0) -> dict[str, Any]:
    """Six institutions, pairs mode: solves in milliseconds, so the service cost dominates."""
    disciplines = ["engineering", "medicine", "agriculture"]
    institutions = []
    for i in range(6):
        strong = disciplines[(i + seed) % 3]
        weak = disciplines[(i + seed + 1) % 3]
        institutions.append(
            {"id": f"i{i}", "strengths": {strong: 0.9, weak: 0.1}, "needs": {weak: 0.7}}
        )
    return {
        "kind": "matching",
        "name": f"tiny-{seed}",
        "institutions": institutions,
        "options": {"time_limit_s": 10, "threads": 1},
    }


def smallest_examples() -> dict[str, bytes]:
    found = {}
    for kind in sorted(KINDS):
        files = [
            p
            for p in (ROOT / "instances" / kind).glob("*.json")
            if not p.name.endswith(".solution.json")
        ]
        if files:
            path = min(files, key=lambda p: p.stat().st_size)
            data = json.loads(path.read_text(encoding="utf-8"))
            data.setdefault("options", {})["threads"] = 1
            found[f"{kind}/{path.stem}"] = json.dumps(data).encode()
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@contextmanager
def local_server(workers: int) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="unishare-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISHARE_")}
    env["UNISHARE_DATABASE_URL"] = f"sqlite:///{folder}/jobs.db"
    env["UNISHARE_MAX_CONCURRENT_SOLVES"] = str(workers)
    log = open(Path(folder) / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {folder}/server.log")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def sync_load(client_args: dict[str, Any], clients: int, requests: int) -> dict[str, float]:
    """``requests`` POST /v1/solve spread over ``clients`` threads."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(**client_args) as client:
            for i in counter:
                body = tiny_matching(i % 3)
                started = time.perf_counter()
                response = client.post("/v1/solve", json=body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200 or response.json()["status"] != "optimal":
                        errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / wall,
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
    }


def job_once(client: httpx.Client, raw: bytes) -> float:
    """Submit, wait for the final status event, fetch the solution: seconds end to end."""
    started = time.perf_counter()
    response = client.post("/v1/jobs", content=raw)
    response.raise_for_status()
    job_id = response.json()["id"]
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        for _ in stream.iter_lines():
            pass  # the server ends the stream when the job has finished
    solution = client.get(f"/v1/jobs/{job_id}/solution")
    solution.raise_for_status()
    return time.perf_counter() - started


def direct_once(raw: bytes) -> float:
    parsed = parse_document(raw)
    assert parsed.instance is not None and parsed.kind is not None
    started = time.perf_counter()
    KINDS[parsed.kind].solve(parsed.instance, parsed.instance.options)
    return time.perf_counter() - started


def run(url: str, api_key: str | None, requests: int, repeats: int) -> None:
    headers = {"X-API-Key": api_key} if api_key else {}
    client_args = {"base_url": url, "headers": headers, "timeout": 300.0}
    with httpx.Client(**client_args) as client:
        for _ in range(3):  # warm both paths up
            client.post("/v1/solve", json=tiny_matching()).raise_for_status()

    print(f"POST /v1/solve, tiny matching instance, {requests} requests per row")
    print(
        f"{'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
    )
    for clients in (1, 4, 16):
        r = sync_load(client_args, clients, requests)
        print(
            f"{r['clients']:>7} {r['rps']:>8.1f} {r['p50'] * 1e3:>8.0f} {r['p90'] * 1e3:>8.0f} "
            f"{r['p99'] * 1e3:>8.0f} {r['max'] * 1e3:>8.0f} {r['errors']:>6}"
        )

    print()
    print(f"job path vs direct solve(), median of {repeats} runs each")
    print(f"{'instance':<40} {'direct s':>9} {'job s':>9} {'overhead s':>11} {'ratio':>7}")
    instances = {"matching/tiny": json.dumps(tiny_matching()).encode(), **smallest_examples()}
    with httpx.Client(**client_args) as client:
        for name, raw in instances.items():
            direct_once(raw)  # imports and first-use costs out of the measurement
            direct = statistics.median(direct_once(raw) for _ in range(repeats))
            job = statistics.median(job_once(client, raw) for _ in range(repeats))
            print(
                f"{name:<40} {direct:>9.3f} {job:>9.3f} {job - direct:>11.3f} "
                f"{job / max(direct, 1e-9):>7.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="A running server; default: start one.")
    parser.add_argument("--api-key", default=os.environ.get("UNISHARE_BENCH_API_KEY"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.url:
        run(args.url, args.api_key, args.requests, args.repeats)
    else:
        with local_server(args.workers) as url:
            print(f"server: {url} ({args.workers} worker processes, SQLite)\n")
            run(url, None, args.requests, args.repeats)


if __name__ == "__main__":
    main()
