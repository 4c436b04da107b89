"""``instruments``: schedule shared large instruments across campuses (contract section 4)."""

from optimizer.core.runner import Kind
from optimizer.instruments.costs import account_kpis
from optimizer.instruments.exports import calendar, table
from optimizer.instruments.model import SOLVERS, build_and_solve
from optimizer.instruments.plan import items
from optimizer.instruments.render import render
from optimizer.instruments.replan import change_reasons, frozen
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.verify import verify


def _maximize(instance: InstrumentsInstance) -> bool:
    return instance.maximize


KIND: Kind[InstrumentsInstance] = Kind(
    name="instruments",
    summary="Schedule shared large instruments across campuses: operators, travel, quotas.",
    instance_model=InstrumentsInstance,
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=_maximize,
    kpis=account_kpis,
    items=items,
    frozen=frozen,
    change_reasons=change_reasons,
    render=render,
    table=table,
    calendar=calendar,
)
solve = KIND.solve

__all__ = ["KIND", "InstrumentsInstance", "solve"]
