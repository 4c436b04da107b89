"""The shapes of the service's answers, as response models: /docs and /openapi.json show them.

The solution document and issues are the engine's own models (the data contract); what is
defined here is the service's: jobs, listings, kinds, health and errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.store import RUNNING, Job, JobStatus
from optimizer.core.issues import Issue
from optimizer.core.spreadsheets import SheetIssue
from optimizer.registry import KINDS


class ErrorDetail(BaseModel):
    """Every error other than 422: one sentence."""

    detail: str = Field(description="What went wrong, in one sentence.")


class Issues(BaseModel):
    """A 422: the document, the body or a query parameter breaks the contract."""

    issues: list[Issue]


class SheetIssues(BaseModel):
    """A 422 of a workbook upload: issues that name the sheet, row and column where known."""

    issues: list[SheetIssue]


class ValidationReport(BaseModel):
    """The answer of POST /v1/validate."""

    valid: bool
    issues: list[Issue]


class JobLinks(BaseModel):
    self: str = Field(description="This job.")
    solution: str = Field(description="Its solution document, once finished.")
    events: str = Field(description="Its server-sent events.")
    cancel: str = Field(description="DELETE here to cancel it.")
    csv: str = Field(description="Its plan as CSV, one row per item, once finished.")
    xlsx: str = Field(description="Its plan as an XLSX workbook, once finished.")
    ics: str | None = Field(
        None, description="Its dated items as iCalendar; null for kinds without them."
    )

    @classmethod
    def of(cls, job_id: str, kind: str | None = None) -> JobLinks:
        base = f"/v1/jobs/{job_id}"
        dated = kind in KINDS and KINDS[kind].calendar is not None
        return cls(
            self=base,
            solution=f"{base}/solution",
            events=f"{base}/events",
            cancel=base,
            csv=f"{base}/solution.csv",
            xlsx=f"{base}/solution.xlsx",
            ics=f"{base}/solution.ics" if dated else None,
        )


class JobAccepted(BaseModel):
    """A job just queued (202)."""

    id: str
    status: JobStatus
    kind: str
    name: str | None
    links: JobLinks


class JobProgress(BaseModel):
    """The latest numbers a running (or finished) solve reported."""

    objective: float | None = Field(description="Best objective found so far.")
    bound: float | None = Field(description="Best proven bound so far.")
    gap: float | None = Field(description="Relative gap between the two.")
    solutions: int = Field(description="Improving solutions found.")
    elapsed_s: float | None = Field(description="Seconds since the job started running.")
    solver_elapsed_s: float | None = Field(description="Seconds the solver reported.")
    phase: str | None = Field(description="What the solver was doing, when it says.")


class JobView(BaseModel):
    """A job's status, timestamps and live progress."""

    id: str
    status: JobStatus
    kind: str
    name: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    attempts: int = Field(description="Runs started; more than one after a restart.")
    cancel_requested: bool
    options: dict[str, Any] = Field(description="The options the request overrode.")
    progress: JobProgress
    solution_status: str | None = Field(description="The status of its solution document.")
    error: str | None
    links: JobLinks

    @classmethod
    def of(cls, job: Job) -> JobView:
        started, finished = job.started_at, job.finished_at
        if started is not None and job.status == RUNNING:
            elapsed: float | None = (datetime.now(UTC) - started).total_seconds()
        elif started is not None and finished is not None:
            elapsed = (finished - started).total_seconds()
        else:
            elapsed = None
        return cls(
            id=job.id,
            status=job.status,
            kind=job.kind,
            name=job.name,
            created_at=job.created_at,
            started_at=started,
            finished_at=finished,
            updated_at=job.updated_at,
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            options=job.overrides,
            progress=JobProgress(
                objective=job.objective,
                bound=job.bound,
                gap=job.gap,
                solutions=job.solutions,
                elapsed_s=elapsed,
                solver_elapsed_s=job.elapsed_s,
                phase=job.phase,
            ),
            solution_status=job.solution_status,
            error=job.error,
            links=JobLinks.of(job.id, job.kind),
        )


class JobList(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobView]
    total: int = Field(description="Jobs matching the filters, on every page.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")


class KindLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    # "schema" would shadow a BaseModel attribute; it is still called schema on the wire.
    instance_schema: str = Field(alias="schema", description="The kind's JSON Schema.")
    examples: str = Field(description="Its example documents.")
    template: str = Field(description="An XLSX workbook to fill in, for POST /v1/import.")


class KindInfo(BaseModel):
    kind: str
    summary: str
    solvers: list[str] = Field(description="Values accepted by options.solver.")
    links: KindLinks


class InstanceDocument(BaseModel):
    """An instance document of the data contract; its kind decides the other fields."""

    model_config = ConfigDict(extra="allow")

    kind: str
    name: str | None = None
    options: dict[str, Any] | None = None


class Examples(RootModel[dict[str, InstanceDocument]]):
    """Example instance documents by file stem."""


class JsonSchema(BaseModel):
    """A JSON Schema (draft 2020-12), as pydantic writes it."""

    model_config = ConfigDict(extra="allow")

    title: str | None = None
    type: str | None = None
    properties: dict[str, Any] | None = None


class ImportReport(BaseModel):
    """The answer of POST /v1/import: the document the workbook holds and its issues."""

    document: dict[str, Any] | None = Field(
        description="The instance document read (as read, even when invalid); null when "
        "the workbook's kind could not be told."
    )
    issues: list[SheetIssue] = Field(
        description="Errors and warnings, each with the sheet, row and column it came from."
    )
    valid: bool


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description="ok or unavailable.")
    database: bool = Field(description="The database answers.")
    workers: bool = Field(description="The worker supervisor runs.")


class JobEvent(BaseModel):
    """One server-sent event, as the stream writes it (``id:``, ``event:``, ``data:`` lines)."""

    id: int = Field(description="Send it back as Last-Event-ID to resume after it.")
    event: str = Field(description="status or solution.")
    data: dict[str, Any] = Field(
        description=(
            'status: {"job", "status", ...} with solution_status, objective or error at the '
            'end; solution: {"job", "objective", "bound", "gap", "solutions", "elapsed_s", '
            '"phase"}.'
        )
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers: 422 with issues, any other with a detail."""
    described = {
        401: "No API key, or a wrong one.",
        404: "Unknown job or kind, or an export the kind does not have.",
        409: "Conflict: see the detail.",
        413: "The request body is larger than UNISHARE_MAX_BODY_BYTES.",
        422: "The document, the body or a query parameter is invalid.",
        429: "Too many waiting; retry after Retry-After seconds.",
        504: "No solution within UNISHARE_SYNC_TIMEOUT_S; use a job.",
    }
    return {
        code: {"model": Issues if code == 422 else ErrorDetail, "description": described[code]}
        for code in codes
    }
