"""schemathesis against the live /openapi.json of a real server: generated requests on every
operation, bounded and seeded; no response may be a server error, and every response must
match what the schema declares for it (status code, content type, body).

The operations are driven one by one with hypothesis rather than through schemathesis' pytest
plugin, whose fixture loader does not run on the pytest this project uses.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import API_KEY, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@schemathesis.serializer(XLSX)
def _workbook_bytes(_ctx: object, value: object) -> bytes:
    """POST /v1/import takes a workbook's bytes: send what was generated as bytes, so the
    server meets non-workbooks (it must answer them with issues, never a 5xx)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


EXAMPLES_PER_OPERATION = 20


def test_no_server_error_and_every_response_as_declared(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, headers=AUTH, checks=CHECKS)

        try:
            check()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 10
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
