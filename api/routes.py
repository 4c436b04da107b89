"""The HTTP routes: thin translations between requests and the store, executor and registry."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import require_api_key
from api.documents import Accepted, accept, entity_limit_issue, examples, parse
from api.executor import ExecutorOverloaded
from api.store import FINISHED, RUNNING, STATUSES, IdempotencyConflict, Job, QueueFull
from optimizer.core.issues import Issue
from optimizer.registry import KINDS

v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
health = APIRouter()

SSE_POLL_S = 0.1
SSE_KEEPALIVE_S = 15.0
DISCONNECT_POLL_S = 0.5
RETRY_AFTER_S = 5

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def issues_response(issues: list[Issue]) -> JSONResponse:
    return JSONResponse(
        status_code=422, content={"issues": [i.model_dump(mode="json") for i in issues]}
    )


def _example_body() -> dict[str, Any]:
    """OpenAPI request body: any instance document, with the shipped examples."""
    found: dict[str, Any] = {}
    for kind in sorted(KINDS):
        for stem, doc in list(examples(kind).items())[:3]:
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
    ):
        self.values = {
            "time_limit_s": time_limit_s,
            "solver": solver,
            "threads": threads,
            "seed": seed,
            "relative_gap": relative_gap,
            "explain": explain,
        }


async def _accept(request: Request, query: OptionQuery) -> Accepted | JSONResponse:
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
        return issues_response(result)
    return result


# -- solving -------------------------------------------------------------------------------


@v1.post(
    "/solve",
    summary="Solve an instance document and wait for the solution",
    openapi_extra=BODY_DOC,
    responses={
        200: {"description": "The solution envelope (any solved status, infeasible included)."},
        422: {"description": "The document is invalid: {issues: [...]}."},
        429: {"description": "Too many solves waiting."},
    },
)
async def solve(request: Request, query: Annotated[OptionQuery, Depends()]) -> Response:
    accepted = await _accept(request, query)
    if isinstance(accepted, JSONResponse):
        return accepted
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
    return JSONResponse(status_code=code, content=solution)


@v1.post(
    "/validate",
    summary="Check an instance document without solving it",
    openapi_extra=BODY_DOC,
)
async def validate(request: Request) -> dict[str, Any]:
    raw = await request.body()
    settings = request.app.state.settings

    def check() -> list[Issue]:
        parsed, data = parse(raw)
        if parsed.issues:
            return parsed.issues
        too_many = entity_limit_issue(data, settings.max_entities)
        return [] if too_many is None else [too_many]

    issues = await run_in_threadpool(check)
    return {"valid": not issues, "issues": [i.model_dump(mode="json") for i in issues]}


# -- jobs ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {
        "self": base,
        "solution": f"{base}/solution",
        "events": f"{base}/events",
        "cancel": base,
    }


def job_view(job: Job) -> dict[str, Any]:
    started, finished = job.started_at, job.finished_at
    if started is not None and job.status == RUNNING:
        elapsed: float | None = (datetime.now(UTC) - started).total_seconds()
    elif started is not None and finished is not None:
        elapsed = (finished - started).total_seconds()
    else:
        elapsed = None
    return {
        "id": job.id,
        "status": job.status,
        "kind": job.kind,
        "name": job.name,
        "created_at": _iso(job.created_at),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "updated_at": _iso(job.updated_at),
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "options": job.overrides,
        "progress": {
            "objective": job.objective,
            "bound": job.bound,
            "gap": job.gap,
            "solutions": job.solutions,
            "elapsed_s": elapsed,
            "solver_elapsed_s": job.elapsed_s,
            "phase": job.phase,
        },
        "solution_status": job.solution_status,
        "error": job.error,
        "links": job_links(job.id),
    }


@v1.post(
    "/jobs",
    status_code=202,
    summary="Queue an instance document for solving",
    openapi_extra=BODY_DOC,
    responses={
        202: {"description": "Accepted: {id, status, kind, name, links}; Location header."},
        409: {"description": "The Idempotency-Key names another request."},
        422: {"description": "The document is invalid: {issues: [...]}."},
        429: {"description": "The queue is full; retry after Retry-After seconds."},
    },
)
async def submit_job(
    request: Request,
    query: Annotated[OptionQuery, Depends()],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    accepted = await _accept(request, query)
    if isinstance(accepted, JSONResponse):
        return accepted
    state = request.app.state
    try:
        job, _created = await run_in_threadpool(
            lambda: state.store.submit(
                kind=accepted.kind,
                name=accepted.name,
                document=accepted.document,
                overrides=accepted.overrides,
                request_sha256=accepted.sha256,
                idempotency_key=idempotency_key,
                max_queued=state.settings.max_queued_jobs,
            )
        )
    except QueueFull as exc:
        raise HTTPException(
            429,
            f"the queue is full ({exc.queued} jobs waiting); retry later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    except IdempotencyConflict as exc:
        raise HTTPException(409, str(exc)) from None
    state.executor.submit(job.id)
    body = {
        "id": job.id,
        "status": job.status,
        "kind": job.kind,
        "name": job.name,
        "links": job_links(job.id),
    }
    return JSONResponse(status_code=202, content=body, headers={"Location": f"/v1/jobs/{job.id}"})


@v1.get("/jobs", summary="List jobs, newest first")
def list_jobs(
    request: Request,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    jobs, total = request.app.state.store.list_jobs(
        status=status, kind=kind, limit=limit, offset=offset
    )
    following = offset + limit if offset + limit < total else None
    return {
        "items": [job_view(j) for j in jobs],
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following,
    }


def _job_or_404(request: Request, job_id: str, heavy: bool = False) -> Job:
    job: Job | None = request.app.state.store.get(job_id, heavy=heavy)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return job


@v1.get("/jobs/{job_id}", summary="A job's status, timestamps and live progress")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return job_view(_job_or_404(request, job_id))


@v1.get(
    "/jobs/{job_id}/solution",
    summary="The solution document of a finished job",
    responses={404: {"description": "Unknown job."}, 409: {"description": "Not finished."}},
)
def get_solution(request: Request, job_id: str) -> Response:
    job = _job_or_404(request, job_id, heavy=True)
    if job.status not in FINISHED:
        raise HTTPException(409, f"job {job_id} is {job.status}; no solution yet")
    if job.solution is None:
        raise HTTPException(409, f"job {job_id} is {job.status} without a solution: {job.error}")
    return JSONResponse(content=job.solution)


@v1.delete(
    "/jobs/{job_id}",
    status_code=202,
    summary="Cancel a job; a running solve stops and keeps its best solution",
    responses={404: {"description": "Unknown job."}, 409: {"description": "Already finished."}},
)
def cancel_job(request: Request, job_id: str) -> Response:
    state = request.app.state
    current = _job_or_404(request, job_id)
    if current.status in FINISHED:
        if current.status == "cancelled":
            return JSONResponse(status_code=200, content=job_view(current))
        raise HTTPException(409, f"job {job_id} already {current.status}")
    job = state.store.request_cancel(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    if job.status == RUNNING:
        state.executor.cancel(job_id)
    return JSONResponse(status_code=202, content=job_view(job))


def _sse(event_id: int, event: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@v1.get(
    "/jobs/{job_id}/events",
    summary="Server-sent events: status changes and each improving solution",
    response_class=StreamingResponse,
)
async def job_events(
    request: Request,
    job_id: str,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    store = request.app.state.store
    if await run_in_threadpool(store.get, job_id) is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    try:
        start = int(last_event_id) if last_event_id else 0
    except ValueError:
        start = 0

    async def stream() -> Any:
        last = start
        quiet_since = time.monotonic()
        yield "retry: 2000\n\n"
        while True:
            events = await run_in_threadpool(store.events_after, job_id, last)
            for e in events:
                yield _sse(e.id, e.type, {"job": job_id, **e.data})
                last = e.id
            if events:
                quiet_since = time.monotonic()
                continue
            job = await run_in_threadpool(store.get, job_id)
            if job is None or job.status in FINISHED:
                # The final status event is written with the status itself: drain and end.
                for e in await run_in_threadpool(store.events_after, job_id, last):
                    yield _sse(e.id, e.type, {"job": job_id, **e.data})
                return
            if await request.is_disconnected() or request.app.state.shutting_down.is_set():
                return
            if time.monotonic() - quiet_since > SSE_KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(SSE_POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# -- kinds ---------------------------------------------------------------------------------


def _kind_or_404(kind: str) -> Any:
    if kind not in KINDS:
        raise HTTPException(404, f"unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[kind]


@v1.get("/kinds", summary="The problem kinds this server solves")
def list_kinds() -> list[dict[str, Any]]:
    return [
        {
            "kind": k.name,
            "summary": k.summary,
            "solvers": list(k.solvers),
            "links": {
                "schema": f"/v1/kinds/{k.name}/schema",
                "examples": f"/v1/kinds/{k.name}/examples",
            },
        }
        for k in KINDS.values()
    ]


@v1.get("/kinds/{kind}/schema", summary="JSON Schema of a kind's instance document")
def kind_schema(kind: str) -> dict[str, Any]:
    return _kind_or_404(kind).instance_model.model_json_schema()


@v1.get("/kinds/{kind}/examples", summary="Example instance documents of a kind")
def kind_examples(kind: str) -> dict[str, Any]:
    _kind_or_404(kind)
    return examples(kind)


# -- health and metrics --------------------------------------------------------------------


@health.get("/health/live", summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/health/ready", summary="The database is reachable and the workers are alive")
def ready(request: Request) -> Response:
    state = request.app.state
    database = state.store.ping()
    workers = state.executor.alive()
    ok = database and workers
    return JSONResponse(
        status_code=200 if ok else 503,
        content={"status": "ok" if ok else "unavailable", "database": database, "workers": workers},
    )


@health.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    data = generate_latest(request.app.state.metrics.registry)
    return Response(content=data, media_type=CONTENT_TYPE_LATEST)


__all__ = ["STATUSES", "health", "v1"]
