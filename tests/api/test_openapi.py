"""The OpenAPI document describes what every /v1 route answers, not just that it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api import create_app, load_settings


def _described(schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str]) -> bool:
    """The schema names fields: its own properties, or those of what it refers to, holds in
    an array, or maps names to."""
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        return name not in seen and _described(components[name], components, seen | {name})
    if schema.get("properties"):
        return True
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _described(schema["items"], components, seen)
    values = schema.get("additionalProperties")
    return isinstance(values, dict) and _described(values, components, seen)


def test_every_v1_success_response_has_a_schema(tmp_path: Path) -> None:
    settings = load_settings({}, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    spec = TestClient(create_app(settings)).get("/openapi.json").json()
    components = spec.get("components", {}).get("schemas", {})
    checked, undescribed = 0, []
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                content = response.get("content") or {"(none)": {}}
                for media, body in content.items():
                    checked += 1
                    schema = body.get("schema", {})
                    if media != "application/json" and schema.get("format") == "binary":
                        continue  # a file (CSV, XLSX, iCalendar): its format is its media type
                    if not _described(schema, components, frozenset()):
                        undescribed.append(f"{method.upper()} {path} {code} {media}")
    assert not undescribed, "success responses without a schema: " + ", ".join(undescribed)
    assert checked >= 11, "every /v1 route is in the document"
