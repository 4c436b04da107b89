"""`unishare serve` and `unishare worker`, and the reference commands `schema` and `jsplib`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer.cli.common import EXIT_INVALID, EXIT_OK, app, err, out


@app.command()
def jsplib(
    paths: Annotated[list[Path], typer.Argument(help="Job-shop files in the JSPLIB format.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the instance documents.")
    ] = Path("."),
) -> None:
    """Write each JSPLIB job shop as an instruments instance (min_makespan) DIR/<stem>.json."""
    from optimizer.instruments.jsplib import jsplib_document

    output.mkdir(parents=True, exist_ok=True)
    bad = 0
    for path in paths:
        try:
            document = jsplib_document(path.read_text(), path.stem)
        except (OSError, ValueError, IndexError) as exc:
            out.print(f"[red]✗[/] {path}: not a JSPLIB job shop: {exc}", highlight=False)
            bad += 1
            continue
        target = output / f"{path.stem}.json"
        target.write_text(json.dumps(document, indent=1) + "\n")
        out.print(f"[green]✓[/] {path} -> {target}", highlight=False)
    raise typer.Exit(EXIT_INVALID if bad else EXIT_OK)


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="matching, instruments or loans.")]) -> None:
    """Print the JSON Schema of an instance kind."""
    from optimizer.registry import KINDS

    if kind not in KINDS:
        err.print(f"unknown kind {kind!r}; choose one of {', '.join(sorted(KINDS))}")
        raise typer.Exit(EXIT_INVALID)
    sys.stdout.write(json.dumps(KINDS[kind].instance_model.model_json_schema(), indent=2) + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning…")] = "info",
) -> None:
    """Run the HTTP service (settings from UNISHARE_* environment variables)."""
    from api.server import serve as run_server  # the engine never needs the web stack

    run_server(host=host, port=port, log_level=log_level)


@app.command()
def worker(
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="redis://host:port/db (default UNISHARE_REDIS_URL)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Worker name (unique).")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Stop once the queues are empty.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning…")] = "info",
) -> None:
    """Run solves queued on Redis by `unishare serve` or `unishare solve --queue`."""
    from api.rqueue.worker import run_worker

    run_worker(redis_url=redis_url, name=name, burst=burst, log_level=log_level)
