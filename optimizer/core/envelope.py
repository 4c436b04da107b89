"""The envelope every kind shares: options in, solution document out (contract sections 1-2)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from optimizer.core.issues import Issue
from optimizer.core.plans import PlanDiff


class Status(StrEnum):
    OPTIMAL = "optimal"
    """Proven optimal within ``relative_gap`` (or an absolute 1e-6)."""
    FEASIBLE = "feasible"
    """Every hard rule holds; optimality not proven (a limit was reached)."""
    INFEASIBLE = "infeasible"
    """Proven that no solution satisfies the hard rules."""
    NO_SOLUTION = "no_solution"
    """A limit was reached before any solution was found."""
    INVALID = "invalid"
    """The document breaks the contract; nothing was solved."""
    ERROR = "error"
    """An internal failure."""


# Absolute tolerance under which objective and bound count as equal. It matches the
# feasibility tolerances of the MIP solvers, so "optimal" never claims more than they prove.
ABSOLUTE_GAP_TOLERANCE = 1e-6


# Re-planning's default cost of changing one item, in objective units: below any real
# difference of weights, scores or costs in the examples, so it keeps what ties, and changes
# what pays.
DEFAULT_CHANGE_PENALTY = 0.01


class Options(BaseModel):
    """Solve options; any of them may be overridden from the CLI or an HTTP query."""

    model_config = ConfigDict(extra="forbid")

    time_limit_s: float = Field(
        30.0, gt=0, allow_inf_nan=False, description="Wall-clock limit for the search."
    )
    solver: str = Field(
        "auto",
        description="auto, cp-sat, highs, cbc, or a kind's baseline (greedy, rota).",
    )
    threads: int = Field(0, ge=0, description="Solver threads; 0 = all cores.")
    seed: int = Field(0, description="Random seed, for reproducible runs.")
    relative_gap: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Stop within this gap; 0 = prove optimality."
    )
    explain: bool = Field(True, description="Explain everything left unmatched or unserved.")
    change_penalty: float = Field(
        DEFAULT_CHANGE_PENALTY,
        ge=0,
        allow_inf_nan=False,
        description=(
            "Re-planning: objective units each item of `previous` costs when it is moved or "
            "dropped (a booking, a pair or group membership, a loan)."
        ),
    )
    now: AwareDatetime | None = Field(
        None,
        description=(
            "Re-planning: the moment of planning. Bookings of `previous` that start before it "
            "and loans that ship on or before its date are frozen."
        ),
    )

    def merged(self, overrides: dict[str, Any] | None) -> Options:
        """These options with the non-``None`` ``overrides`` applied (validated again)."""
        changes = {k: v for k, v in (overrides or {}).items() if v is not None}
        if not changes:
            return self
        return Options.model_validate({**self.model_dump(), **changes})


class InstanceBase(BaseModel):
    """Fields every instance document has besides its kind-specific ones."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Human name; defaults to the file stem.")
    description: str | None = Field(None, description="What the instance is about.")
    options: Options = Field(default_factory=Options)

    def previous_plan(self) -> dict[str, Any] | None:
        """The ``previous`` plan to re-plan against, as a solution payload; None for a fresh
        plan. A kind that takes ``previous`` returns it here."""
        return None

    def warnings(self) -> list[Issue]:
        """What looks wrong in this valid instance without making it invalid: severity
        ``warning``, with the path of the field. Each kind adds its own."""
        return []


class Explanation(BaseModel):
    """Why something was left out, or which rules conflict."""

    model_config = ConfigDict(extra="forbid")

    subject: str
    code: str
    detail: str
    related: list[str] = Field(default_factory=list, description="Other ids involved.")


class Verification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checked: bool = False
    valid: bool | None = None
    violations: list[str] = Field(default_factory=list)
    objective: float | None = Field(
        None, description="The objective as the verifier recomputed it."
    )


class RunInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solver: str | None = None
    solver_version: str | None = None
    threads: int | None = None
    seed: int | None = None
    time_limit_s: float | None = None
    runtime_s: float = 0.0
    instance_sha256: str | None = None
    unishare_version: str | None = None


class Solution(BaseModel):
    """The solution document of contract section 2."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    name: str | None = None
    status: Status
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solution: dict[str, Any] | None = None
    explanations: list[Explanation] = Field(default_factory=list)
    kpis: dict[str, Any] = Field(default_factory=dict)
    verification: Verification = Field(default_factory=Verification)
    changes: PlanDiff | None = Field(
        None, description="Re-planning: how the plan differs from `previous` (contract 3.8)."
    )
    issues: list[Issue] = Field(default_factory=list)
    run: RunInfo = Field(default_factory=RunInfo)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|objective - bound| / max(1e-9, |objective|), as the contract defines it."""
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(1e-9, abs(objective))


def proven_optimal(objective: float, bound: float | None, wanted_gap: float) -> bool:
    """True when the bound closes the gap to the requested tolerance."""
    if bound is None:
        return False
    if abs(objective - bound) <= ABSOLUTE_GAP_TOLERANCE:
        return True
    gap = relative_gap(objective, bound)
    return gap is not None and gap <= wanted_gap
