"""``loans``: allocate inter-library loans over time (contract section 5)."""

from optimizer.core.runner import KindSolver
from optimizer.loans.model import SOLVERS, build_and_solve
from optimizer.loans.schema import LoansInstance
from optimizer.loans.verify import verify

solve: KindSolver[LoansInstance] = KindSolver(
    kind="loans",
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=False,
)

__all__ = ["LoansInstance", "solve"]
