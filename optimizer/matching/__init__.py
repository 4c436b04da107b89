"""``matching``: pair complementary institutions, or form consortia (contract section 3)."""

from optimizer.core.runner import KindSolver
from optimizer.matching.model import SOLVERS, build_and_solve
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.verify import verify

solve: KindSolver[MatchingInstance] = KindSolver(
    kind="matching",
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=True,
)

__all__ = ["MatchingInstance", "solve"]
