"""Instance and solution documents of the ``instruments`` kind (contract section 4).

Times are timezone-aware datetimes with any UTC offset; every one must fall on a whole
minute. The model works in integer minutes from the horizon start (:func:`minutes`), and
writes times back in the horizon's own offset (:func:`stamp`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from optimizer.core.envelope import InstanceBase
from optimizer.core.issues import Issue, IssueCollector, did_you_mean
from optimizer.core.schema import Id, Strict, check_directed_pairs
from optimizer.instruments.accounts import Budget, FairShare, Price, Usage, check_accounts

Objective = Literal["max_weighted_served", "min_makespan", "min_weighted_tardiness"]
MINUTE = timedelta(minutes=1)


class Window(Strict):
    """A half-open time interval [start, end)."""

    start: AwareDatetime
    end: AwareDatetime


class Site(Strict):
    id: Id
    institution: Id = Field(description="The institution that runs the site.")
    name: str | None = None
    city: str | None = None


class Travel(Strict):
    model_config = ConfigDict(populate_by_name=True)

    from_: Id = Field(alias="from")
    to: Id
    minutes: int = Field(ge=0)


class Instrument(Strict):
    id: Id
    type: Id = Field(description="Instrument type, e.g. cryo-em; steps may name a type.")
    site: Id
    name: str | None = None
    availability: list[Window] | None = Field(
        None, description="Bookable windows; the whole horizon when absent."
    )
    maintenance: list[Window] = Field(default_factory=list)
    changeover_minutes: int = Field(0, ge=0)
    capacity: int = Field(
        1, ge=1, description="Most bookings the instrument holds at one moment (contract 6.7)."
    )
    cores: int | None = Field(
        None, ge=1, description="Total cores: the bookings at one moment take at most this many."
    )
    gpus: int | None = Field(
        None, ge=0, description="Total GPUs: the bookings at one moment take at most this many."
    )

    @property
    def parallel(self) -> bool:
        """Whether bookings may run side by side (contract 6.7)."""
        return self.capacity > 1 or self.cores is not None or self.gpus is not None


class Operator(Strict):
    id: Id
    name: str | None = None
    instruments: list[Id] = Field(description="Instruments this operator is qualified for.")
    availability: list[Window] | None = Field(
        None, description="Working windows; the whole horizon when absent."
    )


class Step(Strict):
    instruments: list[Id] | None = Field(None, min_length=1)
    instrument_type: Id | None = None
    duration_minutes: int = Field(gt=0)
    operator_required: bool = False
    name: str | None = None
    attended_minutes: int | None = Field(
        None,
        ge=0,
        description="With operator_required: the operator is needed for the first this many minutes only; absent: the whole step (6.7).",
    )
    attended_end_minutes: int = Field(
        0,
        ge=0,
        description="With attended_minutes: the operator is needed for the last this many minutes too.",
    )
    moves_sample: bool = Field(
        True, description="False: no travel is owed before this step (the sample stays)."
    )
    cores: int | None = Field(
        None, ge=1, description="Cores taken on an instrument with cores; 1 when absent."
    )
    gpus: int = Field(0, ge=0, description="GPUs taken on an instrument with gpus.")

    def attended_parts(self) -> list[tuple[int, int]]:
        """The attended parts as [offset, offset) minutes from the step's start: the whole
        step unless ``attended_minutes`` says otherwise; empty parts dropped, touching ones
        joined."""
        d = self.duration_minutes
        if not self.operator_required:
            return []
        if self.attended_minutes is None:
            return [(0, d)]
        head, tail = self.attended_minutes, self.attended_end_minutes
        if head + tail >= d:
            return [(0, d)]
        return [part for part in ((0, head), (d - tail, d)) if part[1] > part[0]]


class Pin(Strict):
    step: int = Field(ge=0)
    instrument: Id
    start: AwareDatetime


class Request(Strict):
    id: Id
    institution: Id
    title: str | None = None
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    release: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    due: AwareDatetime | None = None
    mandatory: bool = False
    steps: list[Step] = Field(min_length=1)
    pinned: list[Pin] = Field(default_factory=list)


class Quota(Strict):
    institution: Id
    instrument_type: Id
    max_minutes: int = Field(ge=0)


class PlannedBooking(Strict):
    """A booking of a previous plan, as a solution lists it (``end`` and ``operator`` are
    read but a booking is kept by its request, step, instrument and start)."""

    request: Id
    step: int = Field(ge=0)
    instrument: Id
    start: AwareDatetime
    end: AwareDatetime | None = None
    operator: Id | None = None


class InstrumentsPlan(Strict):
    """The ``solution`` object of an earlier instruments solution."""

    bookings: list[PlannedBooking] | None = None
    unscheduled: list[Id] = Field(default_factory=list)


class InstrumentsInstance(InstanceBase):
    kind: Literal["instruments"] = "instruments"
    horizon: Window
    objective: Objective = "max_weighted_served"
    sites: list[Site] = Field(default_factory=list)
    travel: list[Travel] = Field(default_factory=list)
    instruments: list[Instrument] = Field(min_length=1)
    operators: list[Operator] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)
    quotas: list[Quota] = Field(default_factory=list)
    # Prices, budgets and fair shares (contract 6.8, optimizer/instruments/accounts.py).
    prices: list[Price] = Field(default_factory=list)
    budgets: list[Budget] = Field(default_factory=list)
    fair_share: list[FairShare] = Field(default_factory=list)
    usage_history: list[Usage] = Field(default_factory=list)
    history_half_life_weeks: float = Field(4.0, gt=0, allow_inf_nan=False)
    fair_share_penalty: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Objective units per minute of shortfall."
    )
    previous: InstrumentsPlan | None = Field(
        None,
        description=(
            "Re-planning: the solution object of an earlier plan. Each of its bookings that "
            "is not kept (same request, step, instrument and start) costs "
            "options.change_penalty; those starting before options.now are frozen."
        ),
    )

    def previous_plan(self) -> dict[str, Any] | None:
        """``previous`` as a solution payload, its times written in the horizon's offset
        (as a new plan writes them, so that an unmoved booking compares equal)."""
        if self.previous is None or self.previous.bookings is None:
            return None
        tz = self.horizon.start.tzinfo
        return {
            "bookings": [
                {
                    "request": b.request,
                    "step": b.step,
                    "instrument": b.instrument,
                    "operator": b.operator,
                    "start": b.start.astimezone(tz).isoformat(),
                    "end": None if b.end is None else b.end.astimezone(tz).isoformat(),
                }
                for b in self.previous.bookings
            ],
            "unscheduled": list(self.previous.unscheduled),
        }

    @property
    def maximize(self) -> bool:
        return self.objective == "max_weighted_served"

    @property
    def all_mandatory(self) -> bool:
        """``min_makespan`` and ``min_weighted_tardiness`` serve every request."""
        return self.objective != "max_weighted_served"

    def eligible(self, step: Step) -> list[str]:
        """Ids of the instruments a step may run on, in document order."""
        if step.instruments is not None:
            return list(dict.fromkeys(step.instruments))
        return [i.id for i in self.instruments if i.type == step.instrument_type]

    @model_validator(mode="after")
    def _cross_field_checks(self) -> InstrumentsInstance:
        check = IssueCollector()
        _check_times(self, check)
        site_ids = check.unique_ids(self.sites, "sites", "site")
        instrument_ids = check.unique_ids(self.instruments, "instruments", "instrument")
        check.unique_ids(self.operators, "operators", "operator")
        check.unique_ids(self.requests, "requests", "request")
        types = {i.type for i in self.instruments}

        check_directed_pairs(check, self.travel, "travel", site_ids, "site", "duplicate_pair")
        for i, inst in enumerate(self.instruments):
            check.reference(inst.site, site_ids, f"instruments[{i}].site", "site")
            if inst.parallel and inst.changeover_minutes:
                check.add(
                    "changeover_on_parallel",
                    f"instruments[{i}].changeover_minutes",
                    f"instruments[{i}].changeover_minutes = {inst.changeover_minutes} but "
                    f"instrument {inst.id!r} runs bookings side by side (capacity, cores or "
                    "gpus): a parallel instrument has no changeover",
                )
        for o, op in enumerate(self.operators):
            for k, ref in enumerate(op.instruments):
                check.reference(
                    ref, instrument_ids, f"operators[{o}].instruments[{k}]", "instrument"
                )
        for r, req in enumerate(self.requests):
            _check_request(self, check, r, req, instrument_ids, types)
        seen_quota: set[tuple[str, str]] = set()
        for q, quota in enumerate(self.quotas):
            path = f"quotas[{q}]"
            if quota.instrument_type not in types:
                check.add(
                    "unknown_reference",
                    f"{path}.instrument_type",
                    f"instrument type {quota.instrument_type!r} is not the type of any "
                    f"instrument{did_you_mean(quota.instrument_type, types)}",
                )
            key = (quota.institution, quota.instrument_type)
            if key in seen_quota:
                check.add(
                    "duplicate_quota",
                    path,
                    f"the quota of {quota.institution!r} on {quota.instrument_type!r} "
                    "is given more than once",
                )
            seen_quota.add(key)
        check_accounts(check, types, self.prices, self.budgets, self.fair_share, self.usage_history)
        if self.fair_share_penalty > 0 and self.objective != "max_weighted_served":
            check.add(
                "fair_share_penalty_objective",
                "fair_share_penalty",
                f"fair_share_penalty = {self.fair_share_penalty:g} needs objective "
                f"max_weighted_served, not {self.objective}",
            )
        if self.previous is not None:
            _check_previous(self, check)
        check.raise_if_any()
        return self

    def warnings(self) -> list[Issue]:
        """No requests; request times and windows that the horizon makes pointless; ids of a
        previous plan that the instance no longer has (their bookings are dropped)."""
        check = IssueCollector()
        if self.previous is not None:
            _warn_previous(self, check)
        if not self.requests:
            check.warn("no_requests", "requests", "requests is empty: there is nothing to schedule")
        h = self.horizon
        for r, req in enumerate(self.requests):
            path = f"requests[{r}]"
            # A release before the horizon or a deadline after it is only cut to the horizon;
            # these are the times that leave the request nothing to do inside it.
            if req.release is not None and req.release >= h.end:
                check.warn(
                    "time_outside_horizon",
                    f"{path}.release",
                    f"{path}.release = {req.release.isoformat()} is not before "
                    f"horizon.end = {h.end.isoformat()}, so request {req.id!r} cannot be scheduled",
                )
            if req.deadline is not None and req.deadline <= h.start:
                check.warn(
                    "time_outside_horizon",
                    f"{path}.deadline",
                    f"{path}.deadline = {req.deadline.isoformat()} is not after "
                    f"horizon.start = {h.start.isoformat()}, so request {req.id!r} cannot be "
                    "scheduled",
                )
            if req.due is not None and not h.start <= req.due <= h.end:
                check.warn(
                    "time_outside_horizon",
                    f"{path}.due",
                    f"{path}.due = {req.due.isoformat()} lies outside the horizon "
                    f"{h.start.isoformat()} to {h.end.isoformat()}",
                )
        for path, w in _windows(self)[1:]:  # [0] is the horizon itself
            if w.end <= h.start or w.start >= h.end:
                check.warn(
                    "time_outside_horizon",
                    path,
                    f"{path} = {w.start.isoformat()} to {w.end.isoformat()} lies entirely "
                    f"outside the horizon {h.start.isoformat()} to {h.end.isoformat()}",
                )
        return check.issues


def _check_request(
    instance: InstrumentsInstance,
    check: IssueCollector,
    r: int,
    req: Request,
    instrument_ids: set[str],
    types: set[str],
) -> None:
    path = f"requests[{r}]"
    for s, step in enumerate(req.steps):
        spath = f"{path}.steps[{s}]"
        _check_attended(check, spath, step)
        if (step.instruments is None) == (step.instrument_type is None):
            check.add(
                "instrument_choice",
                spath,
                f"{spath} must name exactly one of instruments or instrument_type",
            )
        if step.instruments is not None:
            for k, ref in enumerate(step.instruments):
                check.reference(ref, instrument_ids, f"{spath}.instruments[{k}]", "instrument")
        if step.instrument_type is not None and step.instrument_type not in types:
            check.add(
                "unknown_reference",
                f"{spath}.instrument_type",
                f"no instrument has type {step.instrument_type!r}"
                f"{did_you_mean(step.instrument_type, types)}",
            )
    pinned_steps: set[int] = set()
    for p, pin in enumerate(req.pinned):
        ppath = f"{path}.pinned[{p}]"
        if pin.step >= len(req.steps):
            check.add(
                "out_of_range",
                f"{ppath}.step",
                f"{ppath}.step = {pin.step} but request {req.id!r} has {len(req.steps)} steps",
            )
            continue
        if pin.step in pinned_steps:
            check.add("duplicate_pin", f"{ppath}.step", f"step {pin.step} is pinned twice")
        pinned_steps.add(pin.step)
        if not check.reference(pin.instrument, instrument_ids, f"{ppath}.instrument", "instrument"):
            continue
        if pin.instrument not in instance.eligible(req.steps[pin.step]):
            check.add(
                "not_eligible",
                f"{ppath}.instrument",
                f"instrument {pin.instrument!r} is not eligible for step {pin.step} "
                f"of request {req.id!r}",
            )
        h = instance.horizon
        end = pin.start + timedelta(minutes=req.steps[pin.step].duration_minutes)
        if pin.start < h.start or end > h.end:
            check.add(
                "outside_horizon",
                f"{ppath}.start",
                f"{ppath}.start = {pin.start.isoformat()}: the pinned step does not lie "
                "inside the horizon",
            )
    if req.release is not None and req.deadline is not None and req.deadline <= req.release:
        check.add(
            "ends_before_start",
            f"{path}.deadline",
            f"{path}.deadline = {req.deadline.isoformat()} is not after "
            f"release = {req.release.isoformat()}",
        )


def _check_attended(check: IssueCollector, spath: str, step: Step) -> None:
    """Hard: attended minutes belong to staffed steps and fit inside the step (6.7)."""
    if step.attended_minutes is None:
        if step.attended_end_minutes:
            check.add(
                "attended_end_without_start",
                f"{spath}.attended_end_minutes",
                f"{spath}.attended_end_minutes = {step.attended_end_minutes} needs "
                "attended_minutes as well (without it the whole step is attended)",
            )
        return
    if not step.operator_required:
        check.add(
            "attended_without_operator",
            f"{spath}.attended_minutes",
            f"{spath}.attended_minutes = {step.attended_minutes} but the step has no "
            "operator_required: true",
        )
        return
    head, tail = step.attended_minutes, step.attended_end_minutes
    if head + tail > step.duration_minutes or head + tail == 0:
        check.add(
            "attended_too_long",
            f"{spath}.attended_minutes",
            f"{spath}.attended_minutes = {head} and attended_end_minutes = {tail} must add "
            f"up to between 1 and duration_minutes = {step.duration_minutes}",
        )


def _check_previous(instance: InstrumentsInstance, check: IssueCollector) -> None:
    """Hard: ``previous`` is an instruments plan: bookings, each step booked once, whole
    minutes."""
    assert instance.previous is not None
    if instance.previous.bookings is None:
        check.add(
            "wrong_plan",
            "previous",
            "previous must be the solution object of an instruments solution, with bookings",
        )
        return
    seen: set[tuple[str, int]] = set()
    for k, b in enumerate(instance.previous.bookings):
        path = f"previous.bookings[{k}]"
        if (b.request, b.step) in seen:
            check.add(
                "duplicate_booking",
                path,
                f"{path} books step {b.step} of request {b.request!r} a second time",
            )
        seen.add((b.request, b.step))
        if b.start.second or b.start.microsecond:
            check.add(
                "not_whole_minute",
                f"{path}.start",
                f"{path}.start = {b.start.isoformat()} does not fall on a whole minute",
            )
        if b.end is not None and b.end <= b.start:
            check.add(
                "ends_before_start",
                f"{path}.end",
                f"{path}.end = {b.end.isoformat()} is not after start = {b.start.isoformat()}",
            )


def _warn_previous(instance: InstrumentsInstance, check: IssueCollector) -> None:
    """Warnings: requests, steps, instruments and operators of ``previous`` that the
    instance no longer has."""
    assert instance.previous is not None
    requests = {r.id: r for r in instance.requests}
    instruments = {i.id for i in instance.instruments}
    operators = {o.id for o in instance.operators}
    for k, b in enumerate(instance.previous.bookings or []):
        path = f"previous.bookings[{k}]"
        req = requests.get(b.request)
        if req is None:
            check.warn(
                "previous_unknown_id",
                f"{path}.request",
                f"request {b.request!r} of the previous plan is not in the instance: "
                "its bookings are dropped",
            )
        elif b.step >= len(req.steps):
            check.warn(
                "previous_unknown_id",
                f"{path}.step",
                f"request {b.request!r} now has {len(req.steps)} steps, not step {b.step} "
                "of the previous plan: that booking is dropped",
            )
        if b.instrument not in instruments:
            check.warn(
                "previous_unknown_id",
                f"{path}.instrument",
                f"instrument {b.instrument!r} of the previous plan is not in the instance: "
                "its bookings cannot be kept",
            )
        if b.operator is not None and b.operator not in operators:
            check.warn(
                "previous_unknown_id",
                f"{path}.operator",
                f"operator {b.operator!r} of the previous plan is not in the instance: "
                "its steps get another operator",
            )


def _windows(instance: InstrumentsInstance) -> list[tuple[str, Window]]:
    out = [("horizon", instance.horizon)]
    for i, inst in enumerate(instance.instruments):
        for k, w in enumerate(inst.availability or []):
            out.append((f"instruments[{i}].availability[{k}]", w))
        for k, w in enumerate(inst.maintenance):
            out.append((f"instruments[{i}].maintenance[{k}]", w))
    for o, op in enumerate(instance.operators):
        for k, w in enumerate(op.availability or []):
            out.append((f"operators[{o}].availability[{k}]", w))
    return out


def _check_times(instance: InstrumentsInstance, check: IssueCollector) -> None:
    """Hard: intervals end after they start; every time lies on a whole minute."""
    stamps: list[tuple[str, datetime]] = []
    for path, w in _windows(instance):
        if w.end <= w.start:
            check.add(
                "ends_before_start",
                f"{path}.end",
                f"{path}.end = {w.end.isoformat()} is not after start = {w.start.isoformat()}",
            )
        stamps += [(f"{path}.start", w.start), (f"{path}.end", w.end)]
    for r, req in enumerate(instance.requests):
        for name in ("release", "deadline", "due"):
            value = getattr(req, name)
            if value is not None:
                stamps.append((f"requests[{r}].{name}", value))
        for p, pin in enumerate(req.pinned):
            stamps.append((f"requests[{r}].pinned[{p}].start", pin.start))
    for path, value in stamps:
        if value.second or value.microsecond:
            check.add(
                "not_whole_minute",
                path,
                f"{path} = {value.isoformat()} does not fall on a whole minute",
            )


# ---------------------------------------------------------------- time conversion


def minutes(instance: InstrumentsInstance, when: datetime) -> int:
    """Whole minutes from the horizon start (negative before it)."""
    return (when - instance.horizon.start) // MINUTE


def stamp(instance: InstrumentsInstance, minute: int) -> str:
    """The ISO datetime ``minute`` minutes after the horizon start, in the horizon's offset."""
    start = instance.horizon.start
    return (start + timedelta(minutes=minute)).astimezone(start.tzinfo).isoformat()


class Booking(Strict):
    request: str
    step: int
    instrument: str
    operator: str | None = None
    start: AwareDatetime
    end: AwareDatetime


class InstrumentsSolution(Strict):
    """The kind-specific ``solution`` payload."""

    bookings: list[Booking]
    unscheduled: list[str]
