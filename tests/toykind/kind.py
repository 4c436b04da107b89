"""The toys kind: schema, model, verifier and hooks, each as small as it can be."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from rich.console import RenderableType
from rich.table import Table

from optimizer.core.envelope import Explanation, InstanceBase, Status, Verification
from optimizer.core.plans import Table as Rows
from optimizer.core.runner import Kind, Outcome, SolveContext
from optimizer.core.schema import Id, Strict


class Toy(Strict):
    id: Id
    value: float = Field(ge=0)
    size: int = Field(ge=1)


class ToysInstance(InstanceBase):
    kind: Literal["toys"] = "toys"
    box: int = Field(ge=0)
    toys: list[Toy]


def build_and_solve(instance: ToysInstance, context: SolveContext) -> Outcome:
    """Hard: the chosen sizes fit the box. Exact by dynamic programming over box sizes."""
    best: list[tuple[float, tuple[str, ...]]] = [(0.0, ())] * (instance.box + 1)
    for toy in instance.toys:
        for room in range(instance.box, toy.size - 1, -1):
            value, chosen = best[room - toy.size]
            if value + toy.value > best[room][0]:
                best[room] = (value + toy.value, (*chosen, toy.id))
    value, chosen = best[instance.box]
    return Outcome(Status.OPTIMAL, "dp", solution={"chosen": list(chosen)}, bound=value)


def verify(instance: ToysInstance, solution: dict[str, Any]) -> Verification:
    toys = {t.id: t for t in instance.toys}
    violations = [f"toy {t!r} is not in the instance" for t in solution["chosen"] if t not in toys]
    size = sum(toys[t].size for t in solution["chosen"] if t in toys)
    if size > instance.box:
        violations.append(f"the chosen toys take {size} but the box holds {instance.box}")
    value = sum(toys[t].value for t in solution["chosen"] if t in toys)
    return Verification(checked=True, valid=not violations, violations=violations, objective=value)


def kpis(instance: ToysInstance, solution: dict[str, Any]) -> dict[str, Any]:
    sizes = {t.id: t.size for t in instance.toys}
    return {"toys_chosen": len(solution["chosen"]), "room_left": instance.box - sum(
        sizes[t] for t in solution["chosen"])}  # fmt: skip


def explain(instance: ToysInstance, solution: dict[str, Any]) -> list[Explanation]:
    chosen = set(solution["chosen"])
    return [
        Explanation(subject=t.id, code="left_out", detail=f"{t.id} does not fit with the rest")
        for t in instance.toys
        if t.id not in chosen
    ]


def render(solution: dict[str, Any], instance: dict[str, Any] | None) -> list[RenderableType]:
    table = Table(title="in the box")
    table.add_column("toy")
    for toy in solution["solution"]["chosen"]:
        table.add_row(f"toy:{toy}")
    return [table]


def table(solution: dict[str, Any], instance: dict[str, Any] | None) -> Rows:
    values = {t["id"]: t["value"] for t in (instance or {}).get("toys", [])}
    return Rows(
        ["status", "toy", "value"],
        [["chosen", toy, values.get(toy)] for toy in solution["solution"]["chosen"]],
    )


KIND: Kind[ToysInstance] = Kind(
    name="toys",
    summary="Fill a box with the most valuable toys.",
    instance_model=ToysInstance,
    solvers=("auto", "dp"),
    build_and_solve=build_and_solve,
    verify=verify,
    maximize=True,
    kpis=kpis,
    explain=explain,
    render=render,
    table=table,
)
