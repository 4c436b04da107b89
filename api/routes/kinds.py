"""GET /v1/kinds…: what the server solves, each kind's JSON Schema and example documents."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from api.documents import examples
from api.routes.common import v1_router
from api.schemas import Examples, JsonSchema, KindInfo, KindLinks, error_responses
from optimizer.registry import KINDS

router = v1_router()


def _kind_or_404(kind: str) -> Any:
    if kind not in KINDS:
        raise HTTPException(404, f"unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[kind]


@router.get(
    "/kinds", summary="The problem kinds this server solves", responses=error_responses(401)
)
def list_kinds() -> list[KindInfo]:
    return [
        KindInfo(
            kind=k.name,
            summary=k.summary,
            solvers=list(k.solvers),
            links=KindLinks(
                instance_schema=f"/v1/kinds/{k.name}/schema",
                examples=f"/v1/kinds/{k.name}/examples",
                template=f"/v1/kinds/{k.name}/template.xlsx",
            ),
        )
        for k in KINDS.values()
    ]


@router.get(
    "/kinds/{kind}/schema",
    summary="JSON Schema of a kind's instance document",
    response_model=JsonSchema,
    responses=error_responses(401, 404),
)
def kind_schema(kind: str) -> JSONResponse:
    return JSONResponse(_kind_or_404(kind).instance_model.model_json_schema())


@router.get(
    "/kinds/{kind}/examples",
    summary="Example instance documents of a kind",
    response_model=Examples,
    responses=error_responses(401, 404),
)
def kind_examples(kind: str) -> JSONResponse:
    _kind_or_404(kind)
    return JSONResponse(examples(kind))
