"""Files in and out: a job's plan as CSV, XLSX or iCalendar, a workbook read into a document,
and each kind's workbook template."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.routes.common import InvalidRequest, issues_response, v1_router
from api.schemas import ImportReport, SheetIssues, error_responses
from api.store import Job
from optimizer.core import spreadsheets
from optimizer.core.exports import MEDIA_TYPES, ExportError, NoPlan, NotAvailable, export, file_stem
from optimizer.core.issues import Issue
from optimizer.core.spreadsheets import MEDIA_TYPE as XLSX
from optimizer.core.spreadsheets import read_workbook, template
from optimizer.registry import KINDS

router = v1_router()


def attachment(data: bytes, media_type: str, filename: str) -> Response:
    """``data`` as a download named ``filename`` (RFC 6266: an ASCII name and the UTF-8 one)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


def _file_response(description: str, media_type: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def _finished_job(request: Request, job_id: str) -> Job:
    job: Job | None = request.app.state.store.get(job_id, heavy=True)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    if not job.finished:
        raise HTTPException(409, f"job {job_id} is {job.status}; no solution yet")
    if job.solution is None:
        raise HTTPException(409, f"job {job_id} is {job.status} without a solution: {job.error}")
    return job


def _export(request: Request, job_id: str, fmt: str, filters: dict[str, str | None]) -> Response:
    job = _finished_job(request, job_id)
    assert job.solution is not None
    instance = json.loads(job.document) if job.document else None
    try:
        data = export(fmt, job.solution, instance, filters)
    except NotAvailable as exc:
        raise HTTPException(404, str(exc)) from None
    except NoPlan as exc:
        raise HTTPException(409, f"job {job_id}: {exc}") from None
    except ExportError as exc:
        name = next((k for k, v in filters.items() if v is not None), "")
        raise InvalidRequest(
            [Issue(code="invalid_filter", path=f"query.{name}", detail=str(exc))]
        ) from None
    return attachment(data, MEDIA_TYPES[fmt], f"{file_stem(job.solution, job_id)}.{fmt}")


@router.get(
    "/jobs/{job_id}/solution.csv",
    summary="A finished job's plan as CSV: one row per item, left-out items too",
    response_class=Response,
    responses={
        **_file_response("The plan, a header row then one row per item.", "text/csv"),
        **error_responses(401, 404, 409),
    },
)
def solution_csv(request: Request, job_id: str) -> Response:
    return _export(request, job_id, "csv", {})


@router.get(
    "/jobs/{job_id}/solution.xlsx",
    summary="A finished job's plan as an XLSX workbook: plan, summary and explanations",
    response_class=Response,
    responses={
        **_file_response("The workbook.", MEDIA_TYPES["xlsx"]),
        **error_responses(401, 404, 409),
    },
)
def solution_xlsx(request: Request, job_id: str) -> Response:
    return _export(request, job_id, "xlsx", {})


@router.get(
    "/jobs/{job_id}/solution.ics",
    summary="A finished job's dated items as iCalendar, one event each (instruments)",
    response_class=Response,
    responses={
        **_file_response("One VEVENT per booking, times in UTC.", "text/calendar"),
        **error_responses(401, 404, 409, 422),
    },
)
def solution_ics(
    request: Request,
    job_id: str,
    instrument: Annotated[str | None, Query(description="Only this instrument's.")] = None,
    institution: Annotated[
        str | None, Query(description="Only the bookings this institution requested.")
    ] = None,
) -> Response:
    job: Job | None = request.app.state.store.get(job_id)
    if job is not None and job.kind in KINDS and KINDS[job.kind].calendar is None:
        raise HTTPException(404, f"{job.kind} plans have no dated items to put in a calendar")
    if instrument is not None and institution is not None:
        raise InvalidRequest(
            [
                Issue(
                    code="invalid_filter",
                    path="query.institution",
                    detail="give instrument or institution, not both",
                )
            ]
        )
    return _export(request, job_id, "ics", {"instrument": instrument, "institution": institution})


@router.post(
    "/import",
    summary="Read an XLSX workbook (laid out as the template) into an instance document",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        **error_responses(401, 413),
        422: {"model": SheetIssues, "description": "The body is not an XLSX workbook."},
    },
)
async def import_workbook(
    request: Request,
    kind: Annotated[
        str | None, Query(description="The kind expected; by default the workbook's.")
    ] = None,
) -> Response:
    if kind is not None and kind not in KINDS:
        raise InvalidRequest(
            [
                Issue(
                    code="unknown_kind",
                    path="query.kind",
                    detail=f"query.kind = {kind!r} is not one of {', '.join(sorted(KINDS))}",
                )
            ]
        )
    raw = await request.body()
    max_rows = request.app.state.settings.max_entities
    result = await run_in_threadpool(
        read_workbook,
        raw,
        kind=kind,
        max_rows=max_rows,
        max_unzipped_bytes=spreadsheets.MAX_UNZIPPED_BYTES,
    )
    too_large = [i for i in result.issues if i.code == "too_large"]
    if too_large:
        raise HTTPException(413, too_large[0].detail)
    if any(i.code == "not_xlsx" for i in result.issues):
        return issues_response(list(result.issues))
    # 200 even when invalid, as /v1/validate: the issues say which cells to fix.
    report = ImportReport(document=result.document, issues=result.issues, valid=result.valid)
    return JSONResponse(report.model_dump(mode="json"))


@router.get(
    "/kinds/{kind}/template.xlsx",
    summary="An XLSX workbook to fill in for a kind: a sheet per list, notes on every column",
    response_class=Response,
    responses={**_file_response("The template.", XLSX), **error_responses(401, 404)},
)
def kind_template(kind: str) -> Response:
    if kind not in KINDS:
        raise HTTPException(404, f"unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return attachment(template(kind), XLSX, f"{kind}-template.xlsx")
