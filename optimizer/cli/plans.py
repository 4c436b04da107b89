"""Commands on plans and documents: compare scenarios, show a plan, export it, and
workbooks in and out."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from optimizer.cli.batch import issue_line
from optimizer.cli.common import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, app, err, out
from optimizer.core.envelope import Solution, Status


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The base instance document.")],
    variants: Annotated[
        list[Path],
        typer.Argument(help="Variants: whole documents, or JSON merge patches of the base."),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the comparison document here.")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per scenario.")
    ] = None,
    solver: Annotated[str | None, typer.Option("--solver")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="0 = all cores.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Scenarios at once.")] = 1,
) -> None:
    """Solve a base and its variants; print what each variant changes and what it costs."""
    from optimizer.core.documents import load_json
    from optimizer.core.scenarios import compare_documents
    from optimizer.show import comparison_view

    documents = []
    for path in [base, *variants]:
        try:
            data, issues = load_json(path.read_bytes())
        except OSError as exc:
            err.print(f"[red]cannot read[/] {path}: {exc.strerror}")
            raise typer.Exit(EXIT_INVALID) from None
        for issue in issues:
            err.print(f"[red]{path}[/]: {issue.detail}")
        if issues:
            raise typer.Exit(EXIT_INVALID)
        documents.append(data)
    overrides = {"time_limit_s": time_limit, "solver": solver, "seed": seed, "threads": threads}
    comparison = compare_documents(
        documents[0],
        [(path.stem, data) for path, data in zip(variants, documents[1:], strict=True)],
        solve_all=lambda docs: _solve_all(docs, overrides, jobs),
    )
    if output is not None:
        output.write_text(comparison.model_dump_json(indent=2) + "\n", encoding="utf-8")
    out.print(comparison_view(comparison))
    statuses = [comparison.base.status, *(v.status for v in comparison.variants)]
    if Status.INVALID in statuses:
        raise typer.Exit(EXIT_INVALID)
    raise typer.Exit(EXIT_INTERNAL if Status.ERROR in statuses else EXIT_OK)


def _solve_all(documents: list[Any], overrides: dict[str, Any], jobs: int) -> list[Solution]:
    """Solve documents in order, ``jobs`` at a time."""
    from optimizer.core.documents import solve_document

    with err.status(f"solving {len(documents)} scenarios"):
        if jobs == 1:
            return [solve_document(d, overrides=overrides) for d in documents]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_solve_one, documents, [overrides] * len(documents)))


def _solve_one(document: Any, overrides: dict[str, Any]) -> Solution:
    from optimizer.core.documents import solve_document

    return solve_document(document, overrides=overrides)


@app.command()
def show(
    solution: Annotated[Path, typer.Argument(help="A solution document (*.solution.json).")],
    instance: Annotated[
        Path | None,
        typer.Option("--instance", "-i", help="Its instance, for names and institutions."),
    ] = None,
) -> None:
    """Print a solution as people read it: an agenda per instrument, pairs, loans, reasons."""
    from optimizer.show import render

    documents = []
    for path in [solution] + ([instance] if instance is not None else []):
        try:
            documents.append(json.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            err.print(f"{path}: cannot read a JSON document: {exc}")
            raise typer.Exit(EXIT_INVALID) from None
    if not isinstance(documents[0], dict) or "status" not in documents[0]:
        err.print(f"{solution}: not a solution document (no status)")
        raise typer.Exit(EXIT_INVALID)
    out.print(render(documents[0], documents[1] if len(documents) > 1 else None))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        err.print(f"{path}: cannot read a JSON document: {exc}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


def _write_output(target: Path, data: bytes) -> None:
    """``data`` to ``target``, or to stdout when it is ``-``."""
    if str(target) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        target.write_bytes(data)
    except OSError as exc:
        err.print(f"cannot write {target}: {exc.strerror}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


@app.command()
def export(
    solution: Annotated[Path, typer.Argument(help="A solution document (*.solution.json).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The file to write; - for stdout.")
    ],
    instance: Annotated[
        Path | None,
        typer.Option("--instance", "-i", help="Its instance, for names, sites, institutions."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv, xlsx or ics; by default the output's suffix."),
    ] = None,
    instrument: Annotated[
        str | None, typer.Option("--instrument", help="ics: only this instrument's bookings.")
    ] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help="ics: only this institution's bookings.")
    ] = None,
) -> None:
    """Write a solution's plan as CSV, an XLSX workbook or an iCalendar file."""
    from optimizer.core.exports import FORMATS, ExportError
    from optimizer.core.exports import export as make_export

    chosen = fmt or output.suffix.lstrip(".").lower()
    if chosen not in FORMATS:
        err.print(f"choose --format: one of {', '.join(FORMATS)}")
        raise typer.Exit(EXIT_INVALID)
    document = _read_json(solution)
    if not isinstance(document, dict) or "status" not in document:
        err.print(f"{solution}: not a solution document (no status)")
        raise typer.Exit(EXIT_INVALID)
    instance_document = _read_json(instance) if instance is not None else None
    filters = {"instrument": instrument, "institution": institution}
    try:
        data = make_export(chosen, document, instance_document, filters)
    except ExportError as exc:
        err.print(f"{solution}: {exc}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    _write_output(output, data)
    if str(output) != "-":
        out.print(f"[green]✓[/] {solution} -> {output}", highlight=False)


@app.command(name="import")
def import_workbook(
    workbook: Annotated[Path, typer.Argument(help="An XLSX workbook laid out as the template.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The instance document to write (default: .json)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="The kind expected; by default the workbook's.")
    ] = None,
) -> None:
    """Read a workbook into an instance document; every issue names sheet, row and column."""
    from optimizer.core.spreadsheets import read_workbook

    try:
        raw = workbook.read_bytes()
    except OSError as exc:
        out.print(f"[red]✗[/] {workbook}: cannot read: {exc.strerror}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    result = read_workbook(raw, kind=kind)
    target = output if output is not None else workbook.with_suffix(".json")
    kind_name = (result.document or {}).get("kind", "unknown kind")
    if result.valid and result.document is not None:
        _write_output(
            target, (json.dumps(result.document, indent=1, ensure_ascii=False) + "\n").encode()
        )
        out.print(f"[green]✓[/] {workbook} ({kind_name}) -> {target}", highlight=False)
    else:
        out.print(f"[red]✗[/] {workbook} ({kind_name}): nothing written", highlight=False)
    for issue in result.issues:
        colour = "red" if issue.severity == "error" else "yellow"
        label = issue.code if issue.severity == "error" else f"{issue.code} (warning)"
        out.print(f"    [{colour}]{label}[/] {escape(issue.detail)}", highlight=False)
    raise typer.Exit(EXIT_OK if result.valid else EXIT_INVALID)


@app.command()
def template(
    kind: Annotated[str, typer.Argument(help="matching, instruments or loans.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="The workbook (default: KIND.xlsx).")
    ] = None,
    instance: Annotated[
        Path | None,
        typer.Option("--instance", "-i", help="Fill it with this instance document."),
    ] = None,
) -> None:
    """Write an XLSX workbook to fill in: a sheet per list, notes on every column."""
    from optimizer.core.documents import parse_document
    from optimizer.core.spreadsheets import template as empty_template
    from optimizer.core.spreadsheets import workbook
    from optimizer.registry import KINDS

    if kind not in KINDS:
        err.print(f"unknown kind {kind!r}; choose one of {', '.join(sorted(KINDS))}")
        raise typer.Exit(EXIT_INVALID)
    if instance is None:
        data = empty_template(kind)
    else:
        try:
            parsed = parse_document(instance.read_bytes(), default_name=instance.stem)
        except OSError as exc:
            err.print(f"{instance}: cannot read: {exc.strerror}", highlight=False)
            raise typer.Exit(EXIT_INVALID) from None
        if parsed.instance is None or parsed.kind != kind:
            err.print(f"{instance}: not a valid {kind} document", highlight=False)
            for issue in parsed.issues:
                err.print(f"    {issue_line(issue)}", highlight=False)
            raise typer.Exit(EXIT_INVALID)
        data = workbook(parsed.instance)
    target = output if output is not None else Path(f"{kind}.xlsx")
    _write_output(target, data)
    out.print(f"[green]✓[/] {kind} -> {target}", highlight=False)
