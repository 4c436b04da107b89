"""``matching``: pair complementary institutions, or form consortia (contract section 3)."""

from optimizer.core.runner import Kind
from optimizer.matching.exports import table
from optimizer.matching.kpis import kpis, plan_reasons
from optimizer.matching.model import SOLVERS, build_and_solve
from optimizer.matching.plan import items
from optimizer.matching.render import render
from optimizer.matching.replan import change_reasons
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.verify import verify

KIND: Kind[MatchingInstance] = Kind(
    name="matching",
    summary="Pair complementary institutions, or form consortia, maximising complementarity.",
    instance_model=MatchingInstance,
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=True,
    kpis=kpis,
    explain=plan_reasons,
    items=items,
    change_reasons=change_reasons,
    render=render,
    table=table,
)
solve = KIND.solve

__all__ = ["KIND", "MatchingInstance", "solve"]
