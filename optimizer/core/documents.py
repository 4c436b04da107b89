"""From raw document (bytes, text or parsed JSON) to a solution document, never raising.

This is the one entry point for callers that hold documents rather than models: the CLI,
the HTTP API and batch jobs. Malformed input becomes an ``invalid`` solution with issues.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from optimizer.core.envelope import InstanceBase, Options, Solution, Status
from optimizer.core.issues import (
    InstanceIssues,
    Issue,
    did_you_mean,
    issues_from_validation_error,
)
from optimizer.core.runner import ProgressCallback, internal_error, unsupported_solver

log = logging.getLogger(__name__)


@dataclass
class ParsedDocument:
    """A document read as far as it could be: its kind, its instance, or its issues.

    ``issues`` are errors: the document is valid exactly when there are none. ``warnings``
    (severity ``warning``) come with a valid instance and leave it valid.
    """

    kind: str | None
    name: str | None
    instance: InstanceBase | None
    issues: list[Issue]
    warnings: list[Issue] = field(default_factory=list)


def load_json(raw: bytes | str) -> tuple[Any, list[Issue]]:
    try:
        # utf-8-sig: editors on Windows often start UTF-8 files with a byte-order mark
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        return None, [Issue(code="malformed_json", detail=f"the document is not UTF-8: {exc}")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            Issue(
                code="malformed_json",
                detail=f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            )
        ]
    except RecursionError:
        return None, [Issue(code="malformed_json", detail="the JSON is nested too deeply")]
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        return None, [Issue(code="malformed_json", detail=f"not readable JSON: {str(exc)[:120]}")]


def parse_document(raw: bytes | str | Any, *, default_name: str | None = None) -> ParsedDocument:
    """Read and validate a document; ``raw`` may be bytes, text, or already-parsed JSON."""
    from optimizer.registry import KINDS  # the registry imports every kind; keep this module light

    if isinstance(raw, bytes | str):
        data, issues = load_json(raw)
        if issues:
            return ParsedDocument(None, default_name, None, issues)
    else:
        data = raw
    if not isinstance(data, dict):
        return ParsedDocument(
            None,
            default_name,
            None,
            [Issue(code="wrong_type", detail="the document must be a JSON object")],
        )
    name = data.get("name") if isinstance(data.get("name"), str) else default_name
    kind_name = data.get("kind")
    if kind_name is None:
        issue = Issue(
            code="missing_field",
            path="kind",
            detail=f"kind is required: one of {', '.join(sorted(KINDS))}",
        )
        return ParsedDocument(None, name, None, [issue])
    if not isinstance(kind_name, str):
        # An object or a list here is no kind name (and cannot be looked up as one).
        issue = Issue(
            code="wrong_type",
            path="kind",
            detail=f"kind = {kind_name!r} must be a string: one of {', '.join(sorted(KINDS))}",
        )
        return ParsedDocument(None, name, None, [issue])
    if kind_name not in KINDS:
        issue = Issue(
            code="unknown_kind",
            path="kind",
            detail=f"kind = {kind_name!r} is not one of {', '.join(sorted(KINDS))}"
            + did_you_mean(kind_name, KINDS),
        )
        return ParsedDocument(None, name, None, [issue])
    model = KINDS[kind_name].instance_model
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        return ParsedDocument(kind_name, name, None, issues_from_validation_error(exc, model))
    except InstanceIssues as exc:
        return ParsedDocument(kind_name, name, None, exc.issues)
    # A backend the kind cannot use is a contract error of the document, so `validate`
    # reports it too, not only a solve.
    refused = unsupported_solver(kind_name, KINDS[kind_name].solvers, instance.options.solver)
    if refused is not None:
        return ParsedDocument(kind_name, name, None, [refused])
    if instance.name is None and default_name is not None:
        instance.name = default_name
    return ParsedDocument(kind_name, instance.name, instance, [], instance.warnings())


def invalid_solution(parsed: ParsedDocument) -> Solution:
    return Solution(kind=parsed.kind, name=parsed.name, status=Status.INVALID, issues=parsed.issues)


def resolve_options(
    instance: InstanceBase, overrides: dict[str, Any] | None
) -> tuple[Options | None, list[Issue]]:
    """The instance's options with caller overrides applied, or the issues they raise."""
    try:
        return instance.options.merged(overrides), []
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, Options)
        for issue in issues:
            issue.path = f"options.{issue.path}" if issue.path else "options"
        return None, issues


def with_previous(data: Any, previous: Any) -> tuple[Any, list[Issue]]:
    """The instance document ``data`` re-planning against the solution document
    ``previous`` (its ``solution`` object becomes the instance's ``previous``), or the
    issues that stop it: not a solution with a plan, or a plan of another kind."""
    if not isinstance(data, dict):
        return data, []
    if not isinstance(previous, dict) or not isinstance(previous.get("solution"), dict):
        issue = Issue(
            code="wrong_plan",
            path="previous",
            detail="the previous solution document has no solution object to re-plan against",
        )
        return data, [issue]
    if previous.get("kind") != data.get("kind"):
        issue = Issue(
            code="wrong_plan",
            path="previous",
            detail=(
                f"the previous solution is of kind {previous.get('kind')!r}, "
                f"the instance of kind {data.get('kind')!r}"
            ),
        )
        return data, [issue]
    return {**data, "previous": previous["solution"]}, []


def solve_document(
    raw: bytes | str | Any,
    *,
    overrides: dict[str, Any] | None = None,
    default_name: str | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    previous: Any = None,
) -> Solution:
    """Parse, validate and solve one document; every outcome is a solution document, never an
    exception: malformed input is ``invalid`` with issues, our own bug is ``error``.

    ``stop``, once set, asks a running solve to end early and return its best solution.
    ``previous``, a solution document of the same kind, makes it a re-plan against that
    plan (its ``solution`` object becomes the document's ``previous``).
    """
    try:
        if previous is not None:
            data, issues = load_json(raw) if isinstance(raw, bytes | str) else (raw, [])
            if not issues:
                data, issues = with_previous(data, previous)
            if issues:
                return invalid_solution(ParsedDocument(None, default_name, None, issues))
            raw = data
        return _solve_parsed(
            parse_document(raw, default_name=default_name), overrides, progress, stop
        )
    except Exception as exc:  # a bug anywhere on the way: this document fails, not the caller
        log.exception("solving %s failed", default_name)
        return internal_error(exc, name=default_name)


def _solve_parsed(
    parsed: ParsedDocument,
    overrides: dict[str, Any] | None,
    progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> Solution:
    from optimizer.registry import KINDS

    if parsed.instance is None or parsed.kind is None:
        return invalid_solution(parsed)
    options, issues = resolve_options(parsed.instance, overrides)
    if options is None:
        parsed.issues = issues
        return invalid_solution(parsed)
    return KINDS[parsed.kind].solve(parsed.instance, options, progress=progress, stop=stop)
