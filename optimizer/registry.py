"""Kind name -> the kind's instance model and solve function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.core.envelope import InstanceBase
from optimizer.core.runner import KindSolver
from optimizer.instruments import InstrumentsInstance
from optimizer.instruments import solve as solve_instruments
from optimizer.loans import LoansInstance
from optimizer.loans import solve as solve_loans
from optimizer.matching import MatchingInstance
from optimizer.matching import solve as solve_matching


@dataclass(frozen=True)
class Kind:
    name: str
    instance_model: type[InstanceBase]
    solve: KindSolver[Any]
    summary: str

    @property
    def solvers(self) -> tuple[str, ...]:
        return self.solve.solvers


KINDS: dict[str, Kind] = {
    "matching": Kind(
        "matching",
        MatchingInstance,
        solve_matching,
        "Pair complementary institutions, or form consortia, maximising complementarity.",
    ),
    "loans": Kind(
        "loans",
        LoansInstance,
        solve_loans,
        "Allocate inter-library loans over time, with shipping and lending policies.",
    ),
    "instruments": Kind(
        "instruments",
        InstrumentsInstance,
        solve_instruments,
        "Schedule shared large instruments across campuses: operators, travel, quotas.",
    ),
}


def get_kind(name: str) -> Kind | None:
    return KINDS.get(name)
