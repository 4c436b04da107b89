"""`unishare solve` and `unishare validate`: instance files in, solution files and a summary out."""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optimizer.cli.common import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, app, err, out
from optimizer.core.envelope import Solution, Status
from optimizer.core.issues import Issue


@dataclass
class Row:
    """One line of the summary table."""

    file: str
    kind: str | None
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    output: str | None
    note: str = ""


NOT_INSTANCES = (".solution.json", ".patch.json")


def collect_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """All ``*.json`` files named or found under folders, and the paths that do not exist.

    Folders are searched for instances: solution documents and scenario patches are skipped.
    """
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if not p.name.endswith(NOT_INSTANCES))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    seen: set[Path] = set()
    unique = []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique, missing


def output_names(files: list[Path]) -> dict[Path, str]:
    """``<stem>.solution.json`` per input; a stem seen before gets ``-2``, ``-3``… appended.

    Two inputs with one stem (``a/x.json`` and ``b/x.json``) would otherwise write the same
    file, and the first solution would be lost without a word.
    """
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in files:
        name, n = f"{path.stem}.solution.json", 1
        while name in taken:
            n += 1
            name = f"{path.stem}-{n}.solution.json"
        taken.add(name)
        names[path] = name
    return names


def solve_file(path: Path, target: Path, overrides: dict[str, Any], previous: Any = None) -> Row:
    """Solve one file and write its solution document to ``target``; never raises."""
    from optimizer.core.documents import solve_document

    started = time.perf_counter()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        solution = unreadable(path, exc)
    else:
        solution = solve_document(
            raw, overrides=overrides, default_name=path.stem, previous=previous
        )
    return write_row(path, target, solution, time.perf_counter() - started)


def unreadable(path: Path, exc: OSError) -> Solution:
    return Solution(
        name=path.stem,
        status=Status.INVALID,
        issues=[Issue(code="unreadable", detail=f"cannot read {path}: {exc.strerror}")],
    )


def write_row(path: Path, target: Path, solution: Solution, seconds: float) -> Row:
    """Write ``solution`` to ``target``; the summary line of ``path``."""
    note = ""
    if solution.status == Status.INVALID and solution.issues:
        first = solution.issues[0]
        note = first.detail
    elif solution.status == Status.ERROR and solution.explanations:
        note = solution.explanations[0].detail
    try:
        target.write_text(solution.model_dump_json(indent=2) + "\n", encoding="utf-8")
        written: str | None = str(target)
    except OSError as exc:
        written, note = None, f"cannot write {target}: {exc.strerror}"
    return Row(
        file=str(path),
        kind=solution.kind,
        status=solution.status.value,
        objective=solution.objective,
        bound=solution.bound,
        gap=solution.gap,
        seconds=seconds,
        output=written,
        note=note,
    )


def _fmt(value: float | None, pattern: str = "{:,.4f}") -> str:
    return "–" if value is None else pattern.format(value)


STATUS_STYLE = {
    "optimal": "green",
    "feasible": "yellow",
    "infeasible": "magenta",
    "no_solution": "yellow",
    "invalid": "red",
    "error": "bold red",
}


def summary_table(rows: list[Row]) -> Table:
    table = Table(title="UniShare solve summary", title_justify="left")
    for name, justify in [
        ("file", "left"),
        ("kind", "left"),
        ("status", "left"),
        ("objective", "right"),
        ("bound", "right"),
        ("gap", "right"),
        ("seconds", "right"),
    ]:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    if not out.is_terminal:
        # In a log or a file a path must stay whole, so that it can be searched for; the
        # wide console has room for it (the other columns are short).
        table.columns[0].min_width = min(max((len(r.file) for r in rows), default=4), 110)
    for row in rows:
        style = STATUS_STYLE.get(row.status, "")
        table.add_row(
            row.file,
            row.kind or "–",
            f"[{style}]{row.status}[/]" if style else row.status,
            _fmt(row.objective),
            _fmt(row.bound),
            _fmt(row.gap, "{:.2%}"),
            f"{row.seconds:.2f}",
        )
    return table


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def solve(
    paths: Annotated[list[Path], typer.Argument(help="Instance files or folders of *.json.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for solutions.")] = Path(
        "solutions"
    ),
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per instance.")
    ] = None,
    solver: Annotated[
        str | None, typer.Option("--solver", help="auto, highs, cbc, cp-sat…")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="0 = all cores.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            help="redis://… : enqueue every file for `unishare worker` processes instead.",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous", help="Re-plan against this solution (*.solution.json) of the same kind."
        ),
    ] = None,
    change_penalty: Annotated[
        float | None, typer.Option("--change-penalty", help="Cost of each changed item.")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Re-planning moment, ISO 8601 with offset.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Solver logs.")] = False,
) -> None:
    """Solve instance files; write DIR/<stem>.solution.json for each."""
    _configure_logging(verbose)
    earlier = None
    if previous is not None:
        try:
            earlier = json.loads(previous.read_bytes())
        except (OSError, ValueError) as exc:
            err.print(f"[red]cannot read the previous solution[/] {previous}: {exc}")
            raise typer.Exit(EXIT_INVALID) from None
    files, missing = collect_files(paths)
    for path in missing:
        err.print(f"[red]no such file or folder:[/] {path}")
    if not files and not missing:
        err.print("no *.json instance files found")
        raise typer.Exit(EXIT_INVALID)
    output.mkdir(parents=True, exist_ok=True)
    for path, name in output_names(files).items():
        if name != f"{path.stem}.solution.json":
            err.print(f"[yellow]another input is also named {path.stem}:[/] {path} -> {name}")
    overrides = {
        "time_limit_s": time_limit,
        "solver": solver,
        "seed": seed,
        "threads": threads,
        "change_penalty": change_penalty,
        "now": now,
    }
    rows = run_batch(files, output, overrides, jobs, queue, earlier)
    rows += [
        Row(str(p), None, "invalid", None, None, None, 0.0, None, "no such file") for p in missing
    ]
    out.print(summary_table(rows))
    for row in rows:
        if row.note and row.status in ("invalid", "error"):
            err.print(f"[red]{row.status}[/] {row.file}: {row.note}")
    raise typer.Exit(exit_code(rows))


def run_batch(
    files: list[Path],
    out_dir: Path,
    overrides: dict[str, Any],
    jobs: int,
    queue: str | None = None,
    previous: Any = None,
) -> list[Row]:
    """Solve every file (in ``jobs`` processes when > 1, or on the workers of ``queue``) and
    return rows in input order; each a re-plan against ``previous`` when it is given."""
    rows: dict[Path, Row] = {}
    targets = {path: out_dir / name for path, name in output_names(files).items()}
    progress = Progress(
        TextColumn("[bold]solving"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )
    with progress:
        task = progress.add_task("", total=len(files))
        if queue is not None:
            from api.rqueue.batch import solve_on_queue  # the engine never needs Redis

            def done(path: Path, solution: Solution, seconds: float) -> None:
                rows[path] = write_row(path, targets[path], solution, seconds)
                progress.update(task, description=path.name)
                progress.advance(task)

            for path, exc in solve_on_queue(files, overrides, queue, done, previous):
                done(path, unreadable(path, exc), 0.0)
        elif jobs == 1:
            for path in files:
                progress.update(task, description=path.name)
                rows[path] = solve_file(path, targets[path], overrides, previous)
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {
                    pool.submit(solve_file, p, targets[p], overrides, previous): p for p in files
                }
                for future in as_completed(futures):
                    path = futures[future]
                    try:
                        rows[path] = future.result()
                    except BrokenProcessPool as exc:  # a worker died (e.g. out of memory)
                        rows[path] = Row(
                            str(path),
                            None,
                            "error",
                            None,
                            None,
                            None,
                            0.0,
                            None,
                            f"worker process died: {exc}",
                        )
                    progress.update(task, description=path.name)
                    progress.advance(task)
    return [rows[p] for p in files]


def exit_code(rows: list[Row]) -> int:
    if any(r.status == "invalid" for r in rows):
        return EXIT_INVALID
    if any(r.status == "error" for r in rows):
        return EXIT_INTERNAL
    return EXIT_OK


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Instance files or folders of *.json.")],
) -> None:
    """Report the issues of each document without solving it."""
    from optimizer.core.documents import parse_document

    files, missing = collect_files(paths)
    bad = len(missing)
    for path in missing:
        out.print(f"[red]✗[/] {path}: no such file or folder")
    for path in files:
        try:
            parsed = parse_document(path.read_bytes(), default_name=path.stem)
        except OSError as exc:
            out.print(f"[red]✗[/] {path}: cannot read: {exc.strerror}")
            bad += 1
            continue
        if parsed.issues:
            bad += 1
            out.print(f"[red]✗[/] {path} ({parsed.kind or 'unknown kind'})")
        elif parsed.warnings:
            many = "s" if len(parsed.warnings) > 1 else ""
            out.print(f"[green]✓[/] {path} ({parsed.kind}), {len(parsed.warnings)} warning{many}")
        else:
            out.print(f"[green]✓[/] {path} ({parsed.kind})")
        for issue in parsed.issues + parsed.warnings:
            out.print(f"    {issue_line(issue)}", highlight=False)
    raise typer.Exit(EXIT_INVALID if bad else EXIT_OK)


def issue_line(issue: Issue) -> str:
    """``code path: detail`` in the severity's colour; the path is left out only when the
    detail already starts with it, so every line says where."""
    colour = "red" if issue.severity == "error" else "yellow"
    where = issue.path or "document"
    text = issue.detail if issue.detail.startswith(where) else f"{where}: {issue.detail}"
    label = issue.code if issue.severity == "error" else f"{issue.code} (warning)"
    return f"[{colour}]{label}[/] {escape(text)}"
