"""Reading request bodies into instances, and the limits the server puts on them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.core.documents import ParsedDocument, load_json, parse_document, resolve_options
from optimizer.core.issues import Issue
from optimizer.core.runner import unsupported_solver
from optimizer.registry import KINDS


def instances_dir() -> Path:
    """``instances/`` of the source tree, or of the working directory for installed copies."""
    for candidate in (Path(__file__).resolve().parent.parent / "instances", Path("instances")):
        if candidate.is_dir():
            return candidate
    return Path("instances")


@dataclass
class Accepted:
    """A valid document, ready to solve: canonical text, kind, name and effective overrides."""

    kind: str
    name: str | None
    document: str
    overrides: dict[str, Any]
    sha256: str


def count_entities(data: dict[str, Any]) -> tuple[int, str | None]:
    """Entries in the document's top-level lists (institutions, requests, copies…).

    Returns the total and the name of the longest list.
    """
    total, largest, largest_len = 0, None, -1
    for key, value in data.items():
        if isinstance(value, list):
            total += len(value)
            if len(value) > largest_len:
                largest, largest_len = key, len(value)
    return total, largest


def parse(raw: bytes) -> tuple[ParsedDocument, Any]:
    """``parse_document`` on the body read once, and the JSON it read (None if unreadable);
    nesting too deep for the validator is reported as an issue."""
    data, issues = load_json(raw)
    if issues:
        return ParsedDocument(None, None, None, issues), None
    try:
        return parse_document(data), data
    except RecursionError:
        issue = Issue(code="malformed_json", detail="the document is nested too deeply")
        return ParsedDocument(None, None, None, [issue]), data


def entity_limit_issue(data: dict[str, Any], max_entities: int) -> Issue | None:
    """The issue for a document with more list entries than the server accepts, if it has."""
    entities, largest = count_entities(data)
    if entities <= max_entities:
        return None
    return Issue(
        code="too_many_entities",
        path=largest or "",
        detail=(
            f"the instance has {entities} entities in its lists; "
            f"this server accepts at most {max_entities}"
        ),
    )


def accept(
    raw: bytes,
    query_overrides: dict[str, Any],
    *,
    max_time_limit_s: float,
    max_entities: int,
) -> Accepted | list[Issue]:
    """Validate a request body and merge the query's options; issues when it cannot be solved."""
    parsed, data = parse(raw)
    if parsed.instance is None or parsed.kind is None:
        return parsed.issues
    too_many = entity_limit_issue(data, max_entities)
    if too_many is not None:
        return [too_many]
    overrides = {k: v for k, v in query_overrides.items() if v is not None}
    options, issues = resolve_options(parsed.instance, overrides)
    if options is None:
        return issues
    # parse_document checked the document's solver; a query may name another one.
    refused = unsupported_solver(parsed.kind, KINDS[parsed.kind].solvers, options.solver)
    if refused is not None:
        return [refused]
    # The server's cap applies whatever the document or the query asked for.
    overrides["time_limit_s"] = min(options.time_limit_s, max_time_limit_s)
    document = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(
        (document + "\n" + json.dumps(overrides, sort_keys=True)).encode()
    ).hexdigest()
    return Accepted(parsed.kind, parsed.name, document, overrides, digest)


def kind_of(document: str) -> str:
    try:
        data = json.loads(document)
    except ValueError:
        return "unknown"
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else "unknown"


def examples(kind: str) -> dict[str, Any]:
    """The example instances shipped under ``instances/<kind>/``, by file stem."""
    folder = instances_dir() / kind
    found: dict[str, Any] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".solution.json"):
            continue
        try:
            found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return found
