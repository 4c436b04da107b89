"""What the routes share: reading a request body into an accepted document, the option
query parameters, and the request body's OpenAPI description."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import require_api_key
from api.documents import Accepted, accept, examples
from optimizer.core.issues import Issue
from optimizer.registry import KINDS

RETRY_AFTER_S = 5


def v1_router() -> APIRouter:
    """A router for routes under /v1, all of which need an API key when keys are set.

    The prefix is given here, not by nesting routers: a route's own path is what the
    request metrics label it by.
    """
    return APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


class InvalidRequest(Exception):
    """The request cannot be solved: answered 422 with the issues."""

    def __init__(self, issues: list[Issue]):
        super().__init__("; ".join(i.detail for i in issues))
        self.issues = issues


def issues_response(issues: list[Issue]) -> JSONResponse:
    return JSONResponse(
        status_code=422, content={"issues": [i.model_dump(mode="json") for i in issues]}
    )


# The OpenAPI page shows the smallest shipped examples of each kind: "try it out" waits for
# the solve, and the large weeks and consortia take their whole time limit.
EXAMPLES_PER_KIND = 2
EXAMPLE_MAX_CHARS = 20_000


def _example_body() -> dict[str, Any]:
    """OpenAPI request body: any instance document, with the small shipped examples."""
    found: dict[str, Any] = {}
    for kind in sorted(KINDS):
        sized = sorted(
            (len(json.dumps(doc)), stem, doc)
            for stem, doc in examples(kind).items()
            if len(json.dumps(doc)) <= EXAMPLE_MAX_CHARS
        )
        for _, stem, doc in sized[:EXAMPLES_PER_KIND]:
            found[f"{kind}-{stem}"] = {"summary": f"instances/{kind}/{stem}.json", "value": doc}
    content: dict[str, Any] = {
        "schema": {
            "type": "object",
            "description": (
                "An instance document (kind + options + kind-specific fields); "
                "GET /v1/kinds/{kind}/schema gives the schema of each kind."
            ),
            "required": ["kind"],
        }
    }
    if found:
        content["examples"] = found
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


BODY_DOC = _example_body()


class OptionQuery:
    """Query parameters that override the document's options."""

    def __init__(
        self,
        time_limit_s: Annotated[
            float | None, Query(gt=0, description="Seconds; capped by the server.")
        ] = None,
        solver: Annotated[str | None, Query(description="auto, cp-sat, highs, cbc…")] = None,
        threads: Annotated[int | None, Query(ge=0)] = None,
        seed: Annotated[int | None, Query()] = None,
        relative_gap: Annotated[float | None, Query(ge=0)] = None,
        explain: Annotated[bool | None, Query()] = None,
        change_penalty: Annotated[
            float | None, Query(ge=0, description="Re-planning: cost of each changed item.")
        ] = None,
        now: Annotated[
            str | None, Query(description="Re-planning: the moment, ISO 8601 with offset.")
        ] = None,
    ):
        self.values = {
            "time_limit_s": time_limit_s,
            "solver": solver,
            "threads": threads,
            "seed": seed,
            "relative_gap": relative_gap,
            "explain": explain,
            "change_penalty": change_penalty,
            "now": now,
        }


async def accept_body(request: Request, query: OptionQuery) -> Accepted:
    """The request's document with the query's options; :class:`InvalidRequest` if not."""
    settings = request.app.state.settings
    raw = await request.body()
    result = await run_in_threadpool(
        accept,
        raw,
        query.values,
        max_time_limit_s=settings.max_time_limit_s,
        max_entities=settings.max_entities,
    )
    if isinstance(result, list):
        raise InvalidRequest(result)
    return result
