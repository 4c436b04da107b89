"""Health and metrics: open to everyone, no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.schemas import Liveness, Readiness

router = APIRouter()


@router.get("/health/live", summary="The process is up")
def live() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    summary="The database is reachable and the workers are alive",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see which part."}},
)
def ready(request: Request) -> JSONResponse:
    state = request.app.state
    database = state.store.ping()
    workers = state.executor.alive()
    ok = database and workers
    body = Readiness(status="ok" if ok else "unavailable", database=database, workers=workers)
    return JSONResponse(status_code=200 if ok else 503, content=body.model_dump())


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    data = generate_latest(request.app.state.metrics.registry)
    return Response(content=data, media_type=CONTENT_TYPE_LATEST)
