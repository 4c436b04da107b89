"""The application factory: settings -> store, executor, routes, error handlers, middleware."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

import optimizer
from api.executor import Executor, LocalProcessExecutor
from api.metrics import Metrics
from api.middleware import BodyLimitMiddleware, MetricsMiddleware
from api.routes import InvalidRequest, health, issues_response, v1
from api.routes.page import router as page
from api.settings import Settings, load_settings
from api.store import JobStore
from optimizer.core.issues import Issue, issues_from_validation_error

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[JobStore, Settings, Metrics], Executor]


def validation_issues(exc: RequestValidationError) -> list[Issue]:
    """FastAPI's own request errors (query, headers, body) in the contract's issue shape.

    They are pydantic's errors, so the document's own translation reads them: the same codes
    and the same "path = value: message" details.
    """
    details = [
        InitErrorDetails(
            type=PydanticCustomError(str(err.get("type", "invalid")), str(err.get("msg", ""))),
            loc=tuple(err.get("loc", ())),
            input=err.get("input"),
        )
        for err in exc.errors()
    ]
    issues = issues_from_validation_error(ValidationError.from_exception_data("request", details))
    return issues or [Issue(code="invalid_request", detail="the request is invalid")]


def _default_executor(store: JobStore, settings: Settings, metrics: Metrics) -> Executor:
    """RQ workers when ``UNISHARE_REDIS_URL`` is set, else local worker processes."""
    if settings.redis_url:
        from api.rqueue.executor import RQExecutor  # rq and redis only in that mode

        return RQExecutor(store, settings, on_finished=metrics.observe_solve)
    return LocalProcessExecutor(store, settings, on_finished=metrics.observe_solve)


def create_app(
    settings: Settings | None = None, *, executor_factory: ExecutorFactory | None = None
) -> FastAPI:
    """A ready-to-serve application; the store and the executor start with its lifespan."""
    settings = settings if settings is not None else load_settings()
    factory = executor_factory or _default_executor
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = JobStore(settings.database_url, table_prefix=settings.table_prefix)
        store.migrate()
        executor = factory(store, settings, metrics)
        metrics.watch(store, executor.running, executor.waiting)
        app.state.store = store
        app.state.executor = executor
        executor.start()
        try:
            yield
        finally:
            executor.shutdown()
            store.dispose()

    app = FastAPI(
        title="UniShare",
        version=optimizer.__version__,
        description=(
            "Matching institutions, scheduling shared instruments and allocating "
            "inter-library loans. Every endpoint takes the instance documents of the "
            "data contract; a file from instances/ can be posted as it is."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_keys = settings.all_api_keys()
    app.state.metrics = metrics
    app.state.shutting_down = threading.Event()

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return issues_response(validation_issues(exc))

    @app.exception_handler(InvalidRequest)
    async def _invalid(_request: Request, exc: InvalidRequest) -> JSONResponse:
        return issues_response(exc.issues)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(status_code=500, content={"detail": "internal server error"})

    for router in v1:
        app.include_router(router)
    app.include_router(health)
    app.include_router(page)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def app_from_env() -> Any:
    """For ``uvicorn --factory api.app:app_from_env``."""
    return create_app()
