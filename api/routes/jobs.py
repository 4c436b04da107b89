"""/v1/jobs: queue a document, list, read, cancel, follow its events, fetch its solution."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.routes.common import BODY_DOC, RETRY_AFTER_S, OptionQuery, accept_body, v1_router
from api.schemas import (
    JobAccepted,
    JobEvent,
    JobLinks,
    JobList,
    JobView,
    error_responses,
)
from api.store import CANCELLED, RUNNING, IdempotencyConflict, Job, JobStatus, QueueFull
from optimizer.core.envelope import Solution

router = v1_router()

SSE_POLL_S = 0.1
SSE_KEEPALIVE_S = 15.0
SSE_RETRY_MS = 2000


@router.post(
    "/jobs",
    status_code=202,
    summary="Queue an instance document for solving",
    openapi_extra=BODY_DOC,
    responses={
        202: {"description": "Accepted, with a Location header naming the job."},
        **error_responses(401, 409, 413, 422, 429),
    },
)
async def submit_job(
    request: Request,
    response: Response,
    query: Annotated[OptionQuery, Depends()],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobAccepted:
    accepted = await accept_body(request, query)
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
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobAccepted(
        id=job.id,
        status=job.status,
        kind=job.kind,
        name=job.name,
        links=JobLinks.of(job.id, job.kind),
    )


@router.get("/jobs", summary="List jobs, newest first", responses=error_responses(401, 422))
def list_jobs(
    request: Request,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    jobs, total = request.app.state.store.list_jobs(
        status=status, kind=kind, limit=limit, offset=offset
    )
    return JobList(
        items=[JobView.of(j) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if offset + limit < total else None,
    )


def _job_or_404(request: Request, job_id: str, heavy: bool = False) -> Job:
    job: Job | None = request.app.state.store.get(job_id, heavy=heavy)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return job


@router.get(
    "/jobs/{job_id}",
    summary="A job's status, timestamps and live progress",
    responses=error_responses(401, 404),
)
def get_job(request: Request, job_id: str) -> JobView:
    return JobView.of(_job_or_404(request, job_id))


@router.get(
    "/jobs/{job_id}/solution",
    summary="The solution document of a finished job",
    response_model=Solution,
    responses=error_responses(401, 404, 409),
)
def get_solution(request: Request, job_id: str) -> JSONResponse:
    job = _job_or_404(request, job_id, heavy=True)
    if not job.finished:
        raise HTTPException(409, f"job {job_id} is {job.status}; no solution yet")
    if job.solution is None:
        raise HTTPException(409, f"job {job_id} is {job.status} without a solution: {job.error}")
    # Stored as the worker wrote it: sent as it is, not validated a second time.
    return JSONResponse(content=job.solution)


@router.delete(
    "/jobs/{job_id}",
    status_code=202,
    summary="Cancel a job; a running solve stops and keeps its best solution",
    responses={
        200: {"model": JobView, "description": "It was already cancelled."},
        202: {"description": "Cancelled, or asked to stop if it runs."},
        **error_responses(401, 404, 409),
    },
)
def cancel_job(request: Request, response: Response, job_id: str) -> JobView:
    state = request.app.state
    current = _job_or_404(request, job_id)
    if current.finished:
        if current.status == CANCELLED:
            response.status_code = 200
            return JobView.of(current)
        raise HTTPException(409, f"job {job_id} already {current.status}")
    job = state.store.request_cancel(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    if job.status == RUNNING:
        state.executor.cancel(job_id)
    return JobView.of(job)


def _sse(event_id: int, event: str, data: dict[str, object]) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(data, separators=(",", ":")), event=event, id=str(event_id), sep="\n"
    )


@router.get(
    "/jobs/{job_id}/events",
    summary="Server-sent events: status changes and each improving solution",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "A text/event-stream of events; it ends when the job has finished.",
            "content": {"text/event-stream": {"schema": JobEvent.model_json_schema()}},
        },
        **error_responses(401, 404),
    },
)
async def job_events(
    request: Request,
    job_id: str,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    store = request.app.state.store
    if await run_in_threadpool(store.get, job_id) is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    try:
        start = int(last_event_id) if last_event_id else 0
    except ValueError:
        start = 0

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last = start
        yield ServerSentEvent(retry=SSE_RETRY_MS, sep="\n")
        while True:
            events = await run_in_threadpool(store.events_after, job_id, last)
            for e in events:
                yield _sse(e.id, e.type, {"job": job_id, **e.data})
                last = e.id
            if events:
                continue
            job = await run_in_threadpool(store.get, job_id)
            if job is None or job.finished:
                # The final status event is written with the status itself: drain and end.
                for e in await run_in_threadpool(store.events_after, job_id, last):
                    yield _sse(e.id, e.type, {"job": job_id, **e.data})
                return
            if request.app.state.shutting_down.is_set():
                return  # the client reconnects with Last-Event-ID
            await asyncio.sleep(SSE_POLL_S)

    return EventSourceResponse(
        stream(),
        ping=SSE_KEEPALIVE_S,
        sep="\n",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
