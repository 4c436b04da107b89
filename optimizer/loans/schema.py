"""Instance and solution documents of the ``loans`` kind (contract section 5).

Days are counted from the horizon start (day 0). A request made before the horizon
starts ships no earlier than day 0: the horizon is the window being planned.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from optimizer.core.envelope import InstanceBase
from optimizer.core.issues import Issue, IssueCollector
from optimizer.core.schema import Id, Strict, check_directed_pairs

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """Accept exactly ``YYYY-MM-DD`` strings (and dates built in Python)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise PydanticCustomError("date_parsing", "expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "date_parsing", "not a calendar date: {reason}", {"reason": str(exc)}
        ) from exc


Day = Annotated[date, BeforeValidator(_iso_date)]
Cost = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Weight = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
IsoWeekday = Annotated[int, Field(ge=1, le=7)]
"""An ISO weekday number: Monday is 1, Sunday is 7."""


class Horizon(Strict):
    start: Day
    end: Day = Field(description="Last day on which a loan may ship (inclusive).")


class Library(Strict):
    id: Id
    institution: str | None = None
    name: str | None = None
    city: str | None = None
    max_outgoing: int | None = Field(
        None, ge=0, description="Most loans this library ships in the horizon; null = no limit."
    )
    closed_weekdays: list[IsoWeekday] = Field(
        default_factory=list,
        description=(
            "ISO weekdays (Monday 1 ... Sunday 7) the library is closed: no courier run "
            "leaves it or reaches it that day. Needs couriers."
        ),
    )
    closed_dates: list[Day] = Field(
        default_factory=list,
        description=(
            "Dates the library is closed (holidays): no courier run leaves it or reaches it "
            "that day. Needs couriers."
        ),
    )

    def is_open(self, day: date) -> bool:
        """Whether the library is open on ``day`` (contract 7.7)."""
        return day.isoweekday() not in self.closed_weekdays and day not in self.closed_dates


class Copy(Strict):
    id: Id
    library: Id
    title: Id
    available_from: Day | None = Field(
        None, description="First day the copy is on the shelf; defaults to the horizon start."
    )
    lendable: bool = True


class Request(Strict):
    id: Id
    library: Id = Field(description="The borrowing library.")
    titles: list[Id] = Field(min_length=1, description="Acceptable titles, any one will do.")
    requested_on: Day | None = Field(None, description="Defaults to the horizon start.")
    needed_by: Day
    loan_days: int = Field(28, gt=0)
    weight: Weight = 1.0
    note: str | None = None


class Route(Strict):
    model_config = ConfigDict(populate_by_name=True)

    from_: Id = Field(alias="from")
    to: Id
    days: int = Field(ge=0)
    cost: Cost


class Courier(Strict):
    """A courier run on fixed weekdays from one library to another (contract 7.7)."""

    model_config = ConfigDict(populate_by_name=True)

    id: Id
    from_: Id = Field(alias="from")
    to: Id
    weekdays: list[IsoWeekday] = Field(
        min_length=1, description="ISO weekdays it departs on: Monday 1 ... Sunday 7."
    )
    days: int | None = Field(
        None, ge=0, description="Transit days; defaults to the shipping route's days."
    )
    capacity: int = Field(ge=1, description="Most items one run carries, both legs counted.")
    cost_per_run: Cost = Field(description="Cost of one run that carries at least one item.")

    @property
    def transit(self) -> int:
        """Transit days, once the instance has filled in the default."""
        assert self.days is not None, "LoansInstance fills in every courier's days"
        return self.days


class Penalties(Strict):
    unfilled: Cost = Field(100.0, description="Per unit of request weight left unfilled.")
    late_per_day: Cost = Field(5.0, description="Per day late, per unit of request weight.")


class Policies(Strict):
    keep_one_on_shelf: bool = False
    max_imbalance: int | None = Field(None, ge=0)
    balance_price: Cost | None = Field(
        None,
        description=(
            "Compensation per net loan: net borrowers pay net lenders this much per loan "
            "received beyond those lent; the plan carries the settlement. Not an objective "
            "term: the transfers sum to zero for the consortium."
        ),
    )


class PlannedLoan(Strict):
    """A loan of a previous plan, as a solution lists it: request, copy, lender and ship day
    say what it was; the dates and figures written out from them are accepted and ignored."""

    model_config = ConfigDict(populate_by_name=True)

    request: Id
    copy_: Id = Field(alias="copy")
    lender: Id
    ship: Day
    title: str | None = None
    arrive: str | None = None
    due_back: str | None = None
    home: str | None = None
    late_days: int | None = None
    cost: float | None = None
    borrower: str | None = None
    courier: Id | None = Field(
        None,
        description=(
            "With couriers: the run it shipped on. A frozen loan rides it again; otherwise "
            "accepted and ignored."
        ),
    )
    return_courier: str | None = None
    return_ship: str | None = None


class LoansPlan(Strict):
    """The ``solution`` object of an earlier loans solution."""

    loans: list[PlannedLoan] | None = None
    unfilled: list[Id] | None = None
    settlement: dict[str, Any] | None = Field(
        None, description="The earlier plan's settlement: accepted and ignored."
    )
    runs: list[dict[str, Any]] | None = Field(
        None, description="The earlier plan's courier runs: accepted and ignored."
    )


class LoansInstance(InstanceBase):
    kind: Literal["loans"] = "loans"
    horizon: Horizon
    libraries: list[Library] = Field(min_length=1)
    copies: list[Copy] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)
    shipping: list[Route] = Field(default_factory=list)
    penalties: Penalties = Field(default_factory=Penalties)
    policies: Policies = Field(default_factory=Policies)
    couriers: list[Courier] = Field(
        default_factory=list,
        description=(
            "Courier runs on fixed weekdays. When given, every loan rides a run out and the "
            "first run back after its loan period; shipping costs give way to run costs."
        ),
    )
    handling_cost: Cost = Field(
        0.0, description="With couriers: cost per item per leg carried (out and back)."
    )
    previous: LoansPlan | None = Field(
        None,
        description=(
            "Re-planning: the solution object of an earlier plan. Each of its loans that is "
            "not made again with the same copy on the same ship day costs "
            "options.change_penalty."
        ),
    )

    def previous_plan(self) -> dict[str, Any] | None:
        if self.previous is None:
            return None
        return self.previous.model_dump(mode="json", by_alias=True, exclude_none=True)

    @model_validator(mode="after")
    def _cross_field_checks(self) -> LoansInstance:
        check = IssueCollector()
        if self.horizon.end < self.horizon.start:
            check.add(
                "end_before_start",
                "horizon.end",
                f"horizon.end = {self.horizon.end} is before horizon.start = {self.horizon.start}",
            )
        libraries = check.unique_ids(self.libraries, "libraries", "library")
        check.unique_ids(self.copies, "copies", "copy")
        check.unique_ids(self.requests, "requests", "request")
        for i, c in enumerate(self.copies):
            check.reference(c.library, libraries, f"copies[{i}].library", "library")
        for i, r in enumerate(self.requests):
            check.reference(r.library, libraries, f"requests[{i}].library", "library")
            if r.requested_on is not None and r.requested_on > self.horizon.end:
                check.add(
                    "requested_after_horizon",
                    f"requests[{i}].requested_on",
                    f"request {r.id!r} has requested_on = {r.requested_on}, "
                    f"after horizon.end = {self.horizon.end}",
                )
        check_directed_pairs(
            check, self.shipping, "shipping", libraries, "library", "duplicate_route"
        )
        if self.previous is not None:
            self._check_previous(check)
        self._check_couriers(check, libraries)
        check.raise_if_any()
        return self

    def _check_couriers(self, check: IssueCollector, libraries: set[str]) -> None:
        """Hard: couriers go between two defined libraries, run on distinct weekdays and
        have transit days (given or from a shipping route); calendars and handling costs
        are checked against their presence."""
        check.unique_ids(self.couriers, "couriers", "courier")
        routes = self.routes()
        for i, k in enumerate(self.couriers):
            path = f"couriers[{i}]"
            known = check.reference(k.from_, libraries, f"{path}.from", "library")
            known &= check.reference(k.to, libraries, f"{path}.to", "library")
            if known and k.from_ == k.to:
                check.add("self_pair", path, f"courier {k.id!r} goes from {k.from_!r} to itself")
            if len(set(k.weekdays)) != len(k.weekdays):
                check.add(
                    "duplicate_weekday",
                    f"{path}.weekdays",
                    f"courier {k.id!r} lists a weekday twice: {k.weekdays}",
                )
            if k.days is None:
                route = routes.get((k.from_, k.to))
                if route is None:
                    check.add(
                        "missing_field",
                        f"{path}.days",
                        f"courier {k.id!r} has no days and no shipping route links "
                        f"{k.from_!r} to {k.to!r} to take them from",
                    )
                else:
                    k.days = route.days
        if self.couriers:
            return
        if self.handling_cost > 0:
            check.add(
                "needs_couriers",
                "handling_cost",
                f"handling_cost = {self.handling_cost} is charged per item on a courier run, "
                "but couriers is empty",
            )
        for i, x in enumerate(self.libraries):
            for name in ("closed_weekdays", "closed_dates"):
                if getattr(x, name):
                    check.add(
                        "needs_couriers",
                        f"libraries[{i}].{name}",
                        f"library {x.id!r} has {name} = {getattr(x, name)}, but calendars "
                        "restrict courier runs and couriers is empty",
                    )

    def _check_previous(self, check: IssueCollector) -> None:
        """Hard: ``previous`` is a loans plan, with a loan list that fills a request once."""
        assert self.previous is not None
        if self.previous.loans is None:
            check.add(
                "wrong_plan",
                "previous",
                "previous must be the solution object of a loans solution, with loans",
            )
            return
        first: dict[str, int] = {}
        for k, loan in enumerate(self.previous.loans):
            if loan.request in first:
                check.add(
                    "duplicate_id",
                    f"previous.loans[{k}].request",
                    f"request {loan.request!r} has a loan in previous.loans[{first[loan.request]}] "
                    "already",
                )
            first.setdefault(loan.request, k)

    def warnings(self) -> list[Issue]:
        """No requests; requests already late and copies never available in the horizon;
        a previous plan naming requests, copies or libraries no longer here (those loans
        are dropped)."""
        check = IssueCollector()
        if self.previous is not None:
            known = {
                "request": {r.id for r in self.requests},
                "copy": {c.id for c in self.copies},
                "lender": {x.id for x in self.libraries},
            }
            what = {"request": "request", "copy": "copy", "lender": "library"}
            for k, loan in enumerate(self.previous.loans or []):
                for field, value in (
                    ("request", loan.request),
                    ("copy", loan.copy_),
                    ("lender", loan.lender),
                ):
                    if value not in known[field]:
                        check.warn(
                            "previous_unknown_id",
                            f"previous.loans[{k}].{field}",
                            f"{what[field]} {value!r} of the previous plan is not in the "
                            f"instance: the loan of {loan.request!r} is dropped",
                        )
        if not self.requests:
            check.warn("no_requests", "requests", "requests is empty: there is nothing to lend")
        h = self.horizon
        # needed_by after the horizon is fine: the loan ships inside it and arrives in time.
        for i, r in enumerate(self.requests):
            if r.needed_by < h.start:
                check.warn(
                    "date_outside_horizon",
                    f"requests[{i}].needed_by",
                    f"requests[{i}].needed_by = {r.needed_by} is before horizon.start = "
                    f"{h.start}, so request {r.id!r} is late whichever loan fills it",
                )
        for i, c in enumerate(self.copies):
            if c.available_from is not None and c.available_from > h.end:
                check.warn(
                    "date_outside_horizon",
                    f"copies[{i}].available_from",
                    f"copies[{i}].available_from = {c.available_from} is after horizon.end = "
                    f"{h.end}, so copy {c.id!r} cannot be lent",
                )
        return check.issues

    # ------------------------------------------------------------ day arithmetic

    def day(self, d: date) -> int:
        """Days from the horizon start."""
        return (d - self.horizon.start).days

    @property
    def last_day(self) -> int:
        """Index of the last day a loan may ship."""
        return self.day(self.horizon.end)

    def release_day(self, c: Copy) -> int:
        """First day the copy can ship (never before the horizon start)."""
        return max(0, self.day(c.available_from)) if c.available_from is not None else 0

    def open_day(self, r: Request) -> int:
        """First day the request can be shipped (never before the horizon start)."""
        return max(0, self.day(r.requested_on)) if r.requested_on is not None else 0

    def routes(self) -> dict[tuple[str, str], Route]:
        """Directed routes: each entry serves both ways unless the reverse is given too."""
        table: dict[tuple[str, str], Route] = {}
        for s in self.shipping:
            table[(s.from_, s.to)] = s
        for s in self.shipping:
            table.setdefault((s.to, s.from_), s)
        return table


class LoanEntry(Strict):
    request: str
    copy_: str = Field(alias="copy")
    lender: str
    title: str
    ship: str
    arrive: str
    due_back: str
    home: str
    late_days: int
    cost: float
    borrower: str | None = None
    courier: str | None = None
    return_courier: str | None = None
    return_ship: str | None = None


class CourierRun(Strict):
    courier: str
    day: str
    items: int
    cost: float


class LibrarySettlement(Strict):
    library: str
    lent: int
    received: int
    net: int = Field(description="lent - received.")
    amount: float = Field(description="balance_price * net: > 0 owed to it, < 0 it owes.")


class Transfer(Strict):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="A net borrower.")
    to: str = Field(description="A net lender.")
    loans: int = Field(gt=0)
    amount: float = Field(description="balance_price * loans.")


class Settlement(Strict):
    """Who owes whom for the plan's net loans, at ``policies.balance_price`` (contract 7.8)."""

    price: float
    libraries: list[LibrarySettlement]
    transfers: list[Transfer]
    fewest_transfers: bool


class LoansSolution(Strict):
    """The kind-specific ``solution`` payload."""

    loans: list[LoanEntry]
    unfilled: list[str]
    runs: list[CourierRun] | None = None
    settlement: Settlement | None = None
