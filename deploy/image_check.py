"""``make image-check``: the Docker image's install step, run where no Docker daemon is.

It reads the Dockerfile itself: the files its COPY lines bring in are copied to a scratch
folder laid out like the image's WORKDIR, a fresh virtual environment runs the Dockerfile's own
``pip install`` line there, and then ``unishare serve`` (as the image's CMD, on SQLite) and an
RQ pair (``unishare serve`` plus ``unishare worker`` on a redis-server of its own, when the
binary exists) are started from that environment and must answer /health/ready and solve an
example. Everything listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
STARTUP_S = 180.0


def instructions(text: str) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, words) per Dockerfile line, continuation lines joined, comments dropped."""
    joined: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    found = []
    for line in joined:
        word, _, rest = line.partition(" ")
        found.append((word.upper(), shlex.split(rest)))
    return found


def copy_sources(steps: list[tuple[str, list[str]]], app: Path) -> list[str]:
    """Copy what the COPY lines copy (from the build context) into ``app``; their sources."""
    copied = []
    for word, args in steps:
        if word != "COPY":
            continue
        args = [a for a in args if not a.startswith("--")]
        *sources, dest = args
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                # As Docker does: a folder's contents land in the destination.
                shutil.copytree(
                    path,
                    app / dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    dirs_exist_ok=True,
                )
            else:
                into = dest.endswith("/") or len(sources) > 1
                target = app / dest / path.name if into else app / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            copied.append(source)
    return copied


def pip_lines(steps: list[tuple[str, list[str]]]) -> list[list[str]]:
    """The arguments of every ``RUN pip install …`` (the image's install step)."""
    found = []
    for word, args in steps:
        if word == "RUN" and args[:2] == ["pip", "install"]:
            found.append(args[2:])
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, processes: list[subprocess.Popen[bytes]], folder: Path) -> None:
    end = time.monotonic() + STARTUP_S
    while True:
        for p in processes:
            if p.poll() is not None:
                logs = "\n".join(f.read_text() for f in folder.glob("*.log"))
                raise SystemExit(f"image-check: a process exited early:\n{logs}")
        try:
            if get(f"{url}/health/ready")[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > end:
            raise SystemExit(f"image-check: {url}/health/ready did not answer 200")
        time.sleep(0.3)


def main() -> None:
    steps = instructions(DOCKERFILE.read_text())
    base = next(args[0] for word, args in steps if word == "FROM")
    scratch = Path(tempfile.mkdtemp(prefix="unishare-image-"))
    app = scratch / "app"
    app.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        copied = copy_sources(steps, app)
        print(f"image-check: {base}-like venv; COPY {' '.join(copied)}", flush=True)
        venv = scratch / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        bin_dir = venv / "bin"
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
            check=True,
        )
        for args in pip_lines(steps):
            print(f"image-check: pip install {shlex.join(args)}", flush=True)
            subprocess.run([str(bin_dir / "pip"), "install", "--quiet", *args], cwd=app, check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNISHARE_")}
        env["UNISHARE_DATABASE_URL"] = f"sqlite:///{scratch}/jobs.db"
        example = (app / "instances" / "matching" / "sichuan-industry.json").read_bytes()

        def start(args: list[str], log: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
            with (scratch / log).open("ab") as out:
                process = subprocess.Popen(
                    [str(bin_dir / "unishare"), *args],
                    # Not the source tree: the installed package must carry everything.
                    cwd=app,
                    env={**env, **extra},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            processes.append(process)
            return process

        def check(url: str, what: str) -> None:
            status, body = get(f"{url}/v1/solve", example)
            solution = json.loads(body)
            if status != 200 or solution.get("status") != "optimal":
                raise SystemExit(f"image-check: {what} answered {status}: {body[:500]!r}")
            print(f"image-check: {what}: ready, and solved an example", flush=True)

        port = free_port()
        serve = start(["serve", "--host", "127.0.0.1", "--port", str(port)], "serve.log", {})
        wait_ready(f"http://127.0.0.1:{port}", [serve], scratch)
        check(f"http://127.0.0.1:{port}", "unishare serve (local workers)")

        redis_server = shutil.which("redis-server")
        if redis_server is None:
            print("image-check: no redis-server here; the RQ pair is not started", flush=True)
            return
        redis_port = free_port()
        with (scratch / "redis.log").open("ab") as out:
            redis = subprocess.Popen(
                [
                    redis_server,
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(scratch),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(redis)
        rq = {"UNISHARE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        worker = start(["worker"], "worker.log", rq)
        port = free_port()
        api = start(["serve", "--host", "127.0.0.1", "--port", str(port)], "serve-rq.log", rq)
        wait_ready(f"http://127.0.0.1:{port}", [worker, api], scratch)
        check(f"http://127.0.0.1:{port}", "unishare serve + unishare worker (RQ)")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
