"""``instruments``: schedule shared large instruments across campuses (contract section 4)."""

from optimizer.core.runner import KindSolver
from optimizer.instruments.model import SOLVERS, build_and_solve
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.verify import verify


def _maximize(instance: InstrumentsInstance) -> bool:
    return instance.maximize


solve: KindSolver[InstrumentsInstance] = KindSolver(
    kind="instruments",
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=_maximize,
)

__all__ = ["InstrumentsInstance", "solve"]
