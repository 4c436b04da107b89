"""The decision variables of the CP-SAT formulation, as the formulation, its redundant rows and
the warm start share them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optimizer.instruments.timeline import StepData


@dataclass
class Option:
    """A step on one instrument: its literal and the starts it allows there."""

    instrument: int
    literal: Any
    starts: list[tuple[int, int]]
    # A later step of the same request may use this instrument too: then the changeover
    # after this step is owed only if another request's booking comes next (see waivers).
    shared: bool = False
    waiver: int | None = None  # index into ScheduleModel.waivers when shared


@dataclass
class StepVars:
    step: StepData
    start: Any
    options: list[Option] = field(default_factory=list)
    operators: dict[int, Any] = field(default_factory=dict)
