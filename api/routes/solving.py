"""POST /v1/solve and POST /v1/validate: answers without a stored job."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.documents import entity_limit_issue, parse
from api.executor import ExecutorOverloaded
from api.routes.common import BODY_DOC, RETRY_AFTER_S, OptionQuery, accept_body, v1_router
from api.schemas import ValidationReport, error_responses
from optimizer.core.envelope import Solution
from optimizer.core.issues import Issue

router = v1_router()

DISCONNECT_POLL_S = 0.5


@router.post(
    "/solve",
    summary="Solve an instance document and wait for the solution",
    openapi_extra=BODY_DOC,
    response_model=Solution,
    responses={
        200: {"description": "The solution envelope (any solved status, infeasible included)."},
        500: {"model": Solution, "description": "The solve failed: the envelope, status error."},
        **error_responses(401, 413, 422, 429, 504),
    },
)
async def solve(request: Request, query: Annotated[OptionQuery, Depends()]) -> Response:
    accepted = await accept_body(request, query)
    executor = request.app.state.executor
    try:
        future = executor.solve_now(accepted.document, accepted.overrides)
    except ExecutorOverloaded as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    timeout = request.app.state.settings.sync_timeout_s
    waiter = asyncio.wrap_future(future)
    deadline = time.monotonic() + timeout
    while True:
        done, _ = await asyncio.wait({waiter}, timeout=DISCONNECT_POLL_S)
        if done:
            solution = waiter.result()
            break
        # A caller that hung up or waited too long frees its worker for others.
        if await request.is_disconnected():
            executor.abandon(future)
            waiter.cancel()
            return Response(status_code=499)
        if time.monotonic() > deadline:
            executor.abandon(future)
            waiter.cancel()
            raise HTTPException(504, f"no solution within {timeout:g} s; use /v1/jobs")
    if solution.get("status") == "invalid":
        return JSONResponse(status_code=422, content={"issues": solution.get("issues", [])})
    code = 500 if solution.get("status") == "error" else 200
    # Already a solution document: sent as it is, not validated a second time.
    return JSONResponse(status_code=code, content=solution)


@router.post(
    "/validate",
    summary="Check an instance document without solving it",
    openapi_extra=BODY_DOC,
    responses=error_responses(401, 413),
)
async def validate(request: Request) -> ValidationReport:
    raw = await request.body()
    settings = request.app.state.settings

    def check() -> tuple[list[Issue], list[Issue]]:
        parsed, data = parse(raw)
        if parsed.issues:
            return parsed.issues, []
        too_many = entity_limit_issue(data, settings.max_entities)
        return ([] if too_many is None else [too_many]), parsed.warnings

    errors, warnings = await run_in_threadpool(check)
    # Warnings (severity "warning") leave the document valid.
    return ValidationReport(valid=not errors, issues=errors + warnings)
