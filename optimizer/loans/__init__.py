"""``loans``: allocate inter-library loans over time (contract section 5)."""

from optimizer.core.runner import Kind
from optimizer.loans.exports import sheets, table
from optimizer.loans.model import SOLVERS, build_and_solve
from optimizer.loans.plan import items
from optimizer.loans.render import render
from optimizer.loans.replan import change_reasons, frozen
from optimizer.loans.schema import LoansInstance
from optimizer.loans.verify import verify
from optimizer.loans.verify_couriers import frozen_couriers

KIND: Kind[LoansInstance] = Kind(
    name="loans",
    summary="Allocate inter-library loans over time, with shipping and lending policies.",
    instance_model=LoansInstance,
    solvers=SOLVERS,
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=False,
    items=items,
    frozen=frozen,
    frozen_check=frozen_couriers,
    change_reasons=change_reasons,
    render=render,
    table=table,
    sheets=sheets,
)
solve = KIND.solve

__all__ = ["KIND", "LoansInstance", "solve"]
