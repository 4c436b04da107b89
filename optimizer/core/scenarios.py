"""Scenarios side by side: a base document and its variants, solved and compared.

A variant is a whole document of the same kind, or a JSON merge patch (RFC 7386) against the
base: a variant without a ``kind`` field is a patch. Each scenario is solved on the shared
path (verified like every solve); the comparison reports, per variant, what changed in the
plan (``plans.diff_plans`` over the kind's items), how each KPI moved, and the price of the
variant: how much worse its objective is than the base's, with the range the true optima's
difference can lie in given both bounds (contract 3.9).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from optimizer.core.envelope import Solution, Status
from optimizer.core.issues import Issue
from optimizer.core.numbers import exact
from optimizer.core.plans import PlanDiff, diff_plans

SOLVED = (Status.OPTIMAL, Status.FEASIBLE)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` applied to ``target`` (neither is changed). Objects merge key by
    key, ``null`` removes a key, anything else (lists included) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def is_patch(variant: Any) -> bool:
    """A variant without a ``kind`` is a merge patch against the base."""
    return isinstance(variant, dict) and "kind" not in variant


def variant_document(base: dict[str, Any], variant: Any, name: str) -> Any:
    """The variant as a whole document, named ``name`` unless it names itself (a patch that
    names nothing would otherwise carry the base's name)."""
    if is_patch(variant):
        document = merge_patch(base, variant)
        document["name"] = variant.get("name") or name
        return document
    document = copy.deepcopy(variant)
    if isinstance(document, dict) and not document.get("name"):
        document["name"] = name
    return document


class KpiChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: float
    scenario: float
    difference: float


class Price(BaseModel):
    """What the variant costs against the base, in objective units: positive is worse."""

    model_config = ConfigDict(extra="forbid")

    difference: float = Field(description="How much worse the variant's objective is.")
    low: float | None = Field(description="Least the true optima's difference can be.")
    high: float | None = Field(description="Most the true optima's difference can be.")
    exact: bool = Field(description="Both optima are proven: the difference is the price.")
    detail: str


class ScenarioResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None
    status: Status
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    kpis: dict[str, Any] = Field(default_factory=dict)
    issues: list[Issue] = Field(default_factory=list)
    diff: PlanDiff | None = None
    kpi_changes: dict[str, KpiChange] = Field(default_factory=dict)
    price: Price | None = None
    detail: str | None = None


class Comparison(BaseModel):
    """The comparison document of ``unishare compare`` and ``POST /v1/compare``."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None
    maximize: bool | None
    base: ScenarioResult
    variants: list[ScenarioResult]


def _result(solution: Solution) -> ScenarioResult:
    return ScenarioResult(
        name=solution.name,
        status=solution.status,
        objective=solution.objective,
        bound=solution.bound,
        gap=solution.gap,
        kpis=solution.kpis,
        issues=solution.issues,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kpi_changes(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, KpiChange]:
    """Every KPI both plans report as a number."""
    return {
        key: KpiChange(
            base=base[key],
            scenario=variant[key],
            difference=float(exact(variant[key]) - exact(base[key])),
        )
        for key in base
        if key in variant and _number(base[key]) and _number(variant[key])
    }


def price(base: Solution, variant: Solution, maximize: bool) -> Price:
    """The variant's price: the base's objective less the variant's (more for a minimum).

    Each true optimum lies between its objective and its bound, so the optima's difference
    lies between the two extreme pairings; a missing bound leaves that side open.
    """
    assert base.objective is not None and variant.objective is not None
    sense = 1 if maximize else -1

    def worse(of_base: float | None, of_variant: float | None) -> float | None:
        if of_base is None or of_variant is None:
            return None
        return float(sense * (exact(of_base) - exact(of_variant)))

    difference = worse(base.objective, variant.objective)
    assert difference is not None
    # For a maximum the optimum is in [objective, bound]; for a minimum in [bound, objective].
    low = worse(base.objective, variant.bound)
    high = worse(base.bound, variant.objective)
    proven = base.status == Status.OPTIMAL and variant.status == Status.OPTIMAL
    if proven:
        detail = f"both optima are proven: the variant costs {difference:g}"
    elif low is not None and high is not None:
        detail = f"the true price lies between {low:g} and {high:g}"
    else:
        detail = "a bound is missing, so the true price is not bracketed"
    return Price(
        difference=difference,
        low=difference if proven else low,
        high=difference if proven else high,
        exact=proven,
        detail=detail,
    )


def compare_solutions(
    base: Solution,
    variants: Sequence[Solution],
    *,
    maximize: bool | None,
    items: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> Comparison:
    """The comparison of solved scenarios: base first, then each variant against it."""
    results = []
    base_solved = base.status in SOLVED and base.solution is not None
    for variant in variants:
        result = _result(variant)
        if variant.status not in SOLVED or variant.solution is None:
            result.detail = f"the variant has no plan (status {variant.status.value})"
        elif not base_solved:
            result.detail = f"the base has no plan (status {base.status.value})"
        else:
            assert base.solution is not None and maximize is not None
            if items is not None:
                result.diff = diff_plans(items(base.solution), items(variant.solution))
            result.kpi_changes = _kpi_changes(base.kpis, variant.kpis)
            result.price = price(base, variant, maximize)
        results.append(result)
    return Comparison(kind=base.kind, maximize=maximize, base=_result(base), variants=results)


def compare_documents(
    base: Any,
    variants: Sequence[tuple[str, Any]],
    *,
    solve_all: Callable[[list[Any]], list[Solution]],
) -> Comparison:
    """Solve ``base`` and each named variant and compare them.

    ``solve_all`` takes whole documents and returns their solutions in order (one after the
    other with ``solve_document``, or side by side on a job service).
    """
    from optimizer.core.documents import parse_document
    from optimizer.registry import KINDS

    documents = [base] + [
        variant_document(base, variant, name) if isinstance(base, dict) else variant
        for name, variant in variants
    ]
    base_solution, *variant_solutions = solve_all(documents)
    for k, solution in enumerate(variant_solutions):
        if solution.kind != base_solution.kind and solution.status != Status.INVALID:
            variant_solutions[k] = Solution(
                kind=solution.kind,
                name=solution.name,
                status=Status.INVALID,
                issues=[
                    Issue(
                        code="wrong_kind",
                        path="kind",
                        detail=f"kind = {solution.kind!r} but the base is {base_solution.kind!r}",
                    )
                ],
            )
    parsed = parse_document(base)
    kind = KINDS.get(parsed.kind or "")
    maximize = kind.maximizes(parsed.instance) if kind and parsed.instance else None
    return compare_solutions(
        base_solution,
        variant_solutions,
        maximize=maximize,
        items=kind.items if kind is not None else None,
    )
