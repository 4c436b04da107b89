"""POST /v1/compare: a base document and its variants, solved side by side and compared."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from api.documents import accept
from api.executor import ExecutorOverloaded
from api.routes.common import RETRY_AFTER_S, InvalidRequest, OptionQuery, v1_router
from api.schemas import error_responses
from optimizer.core.documents import load_json
from optimizer.core.envelope import Solution, Status
from optimizer.core.issues import Issue
from optimizer.core.scenarios import Comparison, compare_documents

router = v1_router()

MAX_VARIANTS = 20

COMPARE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["base", "variants"],
                    "properties": {
                        "base": {"type": "object", "description": "An instance document."},
                        "variants": {
                            "type": "array",
                            "items": {"type": "object"},
                            "description": (
                                "Whole documents of the base's kind, or JSON merge patches "
                                "(RFC 7386) of the base: a variant without `kind` is a patch."
                            ),
                        },
                    },
                }
            }
        },
    }
}


def _request_issues(data: Any) -> list[Issue]:
    if not isinstance(data, dict):
        return [Issue(code="wrong_type", detail="the body must be a JSON object")]
    issues = []
    if not isinstance(data.get("base"), dict):
        issues.append(Issue(code="missing_field", path="base", detail="base must be a document"))
    variants = data.get("variants")
    if not isinstance(variants, list) or not variants:
        issues.append(
            Issue(code="missing_field", path="variants", detail="variants must be a non-empty list")
        )
    elif len(variants) > MAX_VARIANTS:
        issues.append(
            Issue(
                code="too_long",
                path="variants",
                detail=f"{len(variants)} variants; this server compares at most {MAX_VARIANTS}",
            )
        )
    return issues


@router.post(
    "/compare",
    summary="Solve a base document and its variants; compare plans, KPIs and objectives",
    openapi_extra=COMPARE_BODY,
    response_model=Comparison,
    responses=error_responses(401, 413, 422, 429, 504),
)
async def compare(request: Request, query: Annotated[OptionQuery, Depends()]) -> Comparison:
    data, issues = load_json(await request.body())
    issues = issues or _request_issues(data)
    if issues:
        raise InvalidRequest(issues)
    settings = request.app.state.settings
    executor = request.app.state.executor

    def solve_all(documents: list[Any]) -> list[Solution]:
        """Every scenario on the executor at once; an invalid one is reported, not solved."""
        solutions: list[Solution | None] = []
        futures: dict[int, Future[dict[str, Any]]] = {}
        for k, document in enumerate(documents):
            accepted = accept(
                json.dumps(document).encode(),
                query.values,
                max_time_limit_s=settings.max_time_limit_s,
                max_entities=settings.max_entities,
            )
            if isinstance(accepted, list):
                name = document.get("name") if isinstance(document, dict) else None
                solutions.append(Solution(name=name, status=Status.INVALID, issues=accepted))
                continue
            solutions.append(None)
            try:
                futures[k] = executor.solve_now(accepted.document, accepted.overrides)
            except ExecutorOverloaded as exc:
                for future in futures.values():
                    executor.abandon(future)
                raise HTTPException(
                    429, str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}
                ) from None
        deadline = time.monotonic() + settings.sync_timeout_s
        for k, future in futures.items():
            try:
                result = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                for pending in futures.values():
                    executor.abandon(pending)
                raise HTTPException(
                    504, f"no comparison within {settings.sync_timeout_s:g} s"
                ) from None
            solutions[k] = Solution.model_validate(result)
        return [s for s in solutions if s is not None]

    comparison = await run_in_threadpool(
        compare_documents,
        data["base"],
        [(f"variant-{k + 1}", v) for k, v in enumerate(data["variants"])],
        solve_all=solve_all,
    )
    if comparison.base.status == Status.INVALID:
        for issue in comparison.base.issues:
            issue.path = f"base.{issue.path}" if issue.path else "base"
        raise InvalidRequest(comparison.base.issues)
    return comparison
