"""The path every solve takes: time it, solve, verify independently, fill in the envelope.

A kind plugs in two functions: ``build_and_solve`` (its model) and ``verify`` (its independent
checker). Whatever the model claims, the objective reported is the verifier's, a solution that
fails verification is reported as ``error``, and ``optimal`` is kept only when the bound
really closes the gap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

import optimizer
from optimizer.core.envelope import (
    Explanation,
    InstanceBase,
    Options,
    RunInfo,
    Solution,
    Status,
    Verification,
    proven_optimal,
    relative_gap,
)
from optimizer.core.issues import Issue
from optimizer.core.numbers import exact
from optimizer.core.plans import CalendarEvent, PlanDiff, Table, diff_plans

log = logging.getLogger(__name__)

InstanceT = TypeVar("InstanceT", bound=InstanceBase)


@dataclass(frozen=True)
class ProgressUpdate:
    """An improving solution or a better bound, as a long solve goes on."""

    elapsed_s: float
    objective: float | None = None
    bound: float | None = None
    solutions: int = 0
    phase: str = ""


ProgressCallback = Callable[[ProgressUpdate], None]


class OutOfTime(Exception):
    """The time limit ran out before a model was even built: there is no solution to give."""


@dataclass
class SolveContext:
    """What a model needs from its caller: the clock, a stop flag, a progress sink."""

    options: Options
    started: float = field(default_factory=time.perf_counter)
    progress: ProgressCallback | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def threads(self) -> int:
        return self.options.threads or (os.cpu_count() or 1)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        """Seconds left of the time limit (never negative)."""
        return max(0.0, self.options.time_limit_s - self.elapsed())

    def report(self, **fields: Any) -> None:
        if self.progress is not None:
            self.progress(ProgressUpdate(elapsed_s=self.elapsed(), **fields))


@dataclass
class Outcome:
    """What a kind's model returns; :func:`run_solve` turns it into a :class:`Solution`."""

    status: Status
    solver: str
    solution: dict[str, Any] | None = None
    bound: float | None = None
    solver_version: str | None = None
    explanations: list[Explanation] = field(default_factory=list)
    kpis: dict[str, Any] = field(default_factory=dict)


ModelFn = Callable[[InstanceT, SolveContext], Outcome]
VerifyFn = Callable[[InstanceT, dict[str, Any]], Verification]
KpiFn = Callable[[InstanceT, dict[str, Any]], dict[str, Any]]
ExplainFn = Callable[[InstanceT, dict[str, Any]], list[Explanation]]
ItemsFn = Callable[[dict[str, Any]], dict[str, Any]]
FrozenFn = Callable[[InstanceT, dict[str, Any]], set[str]]
FrozenCheckFn = Callable[[InstanceT, dict[str, Any], dict[str, Any]], list[str]]
ReasonsFn = Callable[[InstanceT, PlanDiff], dict[str, str]]
RenderFn = Callable[[dict[str, Any], dict[str, Any] | None], list[Any]]
"""(solution document, instance document or None) -> rich renderables for ``unishare show``."""
TableFn = Callable[[dict[str, Any], dict[str, Any] | None], Table]
"""(solution document, instance document or None) -> the plan's items as rows."""
CalendarFn = Callable[[dict[str, Any], dict[str, Any] | None], list[CalendarEvent]]
"""(solution document, instance document or None) -> the plan's dated items."""
SheetsFn = Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Table]]
"""(solution document, instance document or None) -> further tables of the plan, by name."""


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def instance_sha256(instance: BaseModel) -> str:
    """SHA-256 of the instance with defaults filled in, keys sorted, options left out.

    Options do not change the problem, so the same problem solved with other options keeps
    its fingerprint.
    """
    data = instance.model_dump(mode="json", exclude={"options"})
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


@dataclass(frozen=True)
class Kind(Generic[InstanceT]):
    """Everything one problem kind contributes; ``optimizer/registry.py`` lists one per kind.

    The shared path does the rest: parsing and issues, options, the clock and stop signal,
    verification, honest statuses, the solution envelope, the CLI, the HTTP service.
    """

    name: str
    summary: str
    instance_model: type[InstanceT]
    """The pydantic model of the instance document (a subclass of ``InstanceBase``)."""
    solvers: tuple[str, ...]
    """The values ``options.solver`` may take for this kind, ``"auto"`` first."""
    build_and_solve: ModelFn[InstanceT]
    """The model: builds, solves, and returns an :class:`Outcome` with the solution payload."""
    verify: VerifyFn[InstanceT]
    """The independent checker: never imports the model; its objective is the one reported."""
    maximize: bool | Callable[[InstanceT], bool]
    """The objective's sense: a bool, or a function of the instance when it says its own."""
    kpis: KpiFn[InstanceT] | None = None
    """Figures of a verified plan, from the plan alone; merged over the model's own KPIs."""
    explain: ExplainFn[InstanceT] | None = None
    """Reasons read off a verified plan (why an item is left out), when options.explain."""
    items: ItemsFn | None = None
    """The plan as keyed items (``optimizer/core/plans.py``): scenario diffs, and the
    changes of a re-plan against ``previous`` (which the shared path prices and checks)."""
    frozen: FrozenFn[InstanceT] | None = None
    """Re-planning: the items of ``previous`` that must stay as they are (started, shipped)."""
    frozen_check: FrozenCheckFn[InstanceT] | None = None
    """Re-planning: what frozen items must keep beyond their item values, checked on the
    plan as verification (loans: the courier a shipped loan rides); violations."""
    change_reasons: ReasonsFn[InstanceT] | None = None
    """Re-planning: why items were moved or dropped, for those the kind can name a cause of."""
    render: RenderFn | None = None
    """The kind's part of ``unishare show``: tables of its solution payload."""
    table: TableFn | None = None
    """The plan's items as rows, one per item (left-out ones too): CSV and XLSX exports."""
    calendar: CalendarFn | None = None
    """The plan's dated items as calendar events, with the facets they can be filtered by."""
    sheets: SheetsFn | None = None
    """Tables of the plan beside its items (loans: courier runs, the settlement), each a
    sheet of its own in the XLSX export, by sheet name; only those the plan has."""

    def maximizes(self, instance: InstanceT) -> bool:
        return self.maximize(instance) if callable(self.maximize) else self.maximize

    def solve(
        self,
        instance: InstanceT,
        options: Options | None = None,
        *,
        progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Solution:
        """Solve ``instance`` on the shared path: the solution is verified, its status true."""
        return run_solve(self, instance, options, progress=progress, stop=stop)


def unsupported_solver(kind: str, solvers: tuple[str, ...], solver: str) -> Issue | None:
    """The issue for ``options.solver`` when the kind cannot use it, else None."""
    if solver in solvers:
        return None
    return Issue(
        code="unsupported_solver",
        path="options.solver",
        detail=(
            f"options.solver = {solver!r} is not available for {kind}; "
            f"choose one of {', '.join(solvers)}"
        ),
    )


def internal_error(
    exc: BaseException, *, kind: str | None = None, name: str | None = None
) -> Solution:
    """The ``error`` solution for our own bug: what was raised, and where."""
    return Solution(
        kind=kind,
        name=name,
        status=Status.ERROR,
        explanations=[
            Explanation(
                subject=name or kind or "solve",
                code="internal_error",
                detail=f"{type(exc).__name__}: {exc}",
            )
        ],
        kpis={"traceback": "".join(traceback.format_exception(exc, limit=8))},
    )


def _price_changes(
    kind: Kind[InstanceT],
    instance: InstanceT,
    previous: dict[str, Any],
    plan: dict[str, Any],
    verification: Verification,
    options: Options,
) -> tuple[PlanDiff, float | None]:
    """The re-plan's changes against ``previous``, and the objective with their cost: each
    moved or dropped item costs ``change_penalty``. A frozen item that changed is a violation.

    Counted here from the kind's items, apart from the model, like the rest of verification.
    """
    assert kind.items is not None
    changes = diff_plans(kind.items(previous), kind.items(plan))
    if kind.frozen is not None:
        # The hook reads options.now from the instance: give it the options this solve used,
        # overrides included, not only the document's.
        solved = instance.model_copy(update={"options": options})
        frozen = kind.frozen(solved, previous)
        changed = [m.item for m in changes.moved_items] + [d.item for d in changes.dropped_items]
        for item in sorted(frozen.intersection(changed)):
            verification.violations.append(f"{item} is frozen (options.now) but was changed")
            verification.valid = False
        if kind.frozen_check is not None:
            for why in kind.frozen_check(solved, previous, plan):
                verification.violations.append(why)
                verification.valid = False
    reasons = kind.change_reasons(instance, changes) if kind.change_reasons is not None else {}
    default = (
        f"the new plan gains more than the change costs (change_penalty "
        f"{options.change_penalty:g} per change)"
    )
    for moved in changes.moved_items:
        moved.reason = reasons.get(moved.item, default)
    for dropped in changes.dropped_items:
        dropped.reason = reasons.get(dropped.item, default)
    objective = verification.objective
    if objective is not None:
        sense = -1.0 if kind.maximizes(instance) else 1.0
        objective = float(
            exact(objective) + Decimal(sense) * exact(options.change_penalty) * changes.changed
        )
    return changes, objective


def _verify(kind: Kind[InstanceT], instance: InstanceT, solution: dict[str, Any]) -> Verification:
    """The kind's verification; a verifier that raises rejects the solution instead."""
    try:
        return kind.verify(instance, solution)
    except Exception as exc:  # a malformed solution payload or a verifier bug: never crash
        log.exception("verification of %s raised", instance.name)
        return Verification(
            checked=True,
            valid=False,
            violations=[f"the verifier failed: {type(exc).__name__}: {exc}"],
        )


def run_solve(
    kind: Kind[InstanceT],
    instance: InstanceT,
    options: Options | None = None,
    *,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> Solution:
    options = options if options is not None else instance.options
    context = SolveContext(options=options, progress=progress)
    if stop is not None:
        context.stop = stop
    run = RunInfo(
        seed=options.seed,
        threads=context.threads,
        time_limit_s=options.time_limit_s,
        instance_sha256=instance_sha256(instance),
        unishare_version=optimizer.__version__,
    )
    base = {"kind": kind.name, "name": instance.name}

    refused = unsupported_solver(kind.name, kind.solvers, options.solver)
    if refused is not None:
        run.runtime_s = context.elapsed()
        return Solution(**base, status=Status.INVALID, issues=[refused], run=run)

    try:
        outcome = kind.build_and_solve(instance, context)
    except Exception as exc:  # our own bug: report it, never crash the batch
        log.exception("solve of %s failed", instance.name)
        failed = internal_error(exc, kind=kind.name, name=instance.name)
        run.runtime_s = context.elapsed()
        failed.run = run
        failed.issues = instance.warnings()
        return failed

    run.solver = outcome.solver
    run.solver_version = outcome.solver_version
    status = outcome.status
    objective: float | None = None
    bound = outcome.bound
    verification = Verification()

    changes: PlanDiff | None = None
    if outcome.solution is not None and status in (Status.OPTIMAL, Status.FEASIBLE):
        verification = _verify(kind, instance, outcome.solution)
        objective = verification.objective
        previous = instance.previous_plan()
        if previous is not None and kind.items is not None and verification.valid:
            changes, objective = _price_changes(
                kind, instance, previous, outcome.solution, verification, options
            )
        if not verification.valid:
            log.error("verification failed for %s: %s", instance.name, verification.violations)
            status = Status.ERROR
        elif objective is not None and bound is not None:
            # A bound on the wrong side of the verified objective means the model and the
            # verifier disagree about the objective itself: a bug, not a result.
            wrong_side = (
                bound < objective - 1e-6 * max(1.0, abs(objective))
                if kind.maximizes(instance)
                else bound > objective + 1e-6 * max(1.0, abs(objective))
            )
            if wrong_side:
                verification.violations.append(
                    f"the proven bound {bound} is on the wrong side of the objective {objective}"
                )
                verification.valid = False
                status = Status.ERROR
            elif status == Status.OPTIMAL and not proven_optimal(
                objective, bound, options.relative_gap
            ):
                status = Status.FEASIBLE
        elif status == Status.OPTIMAL and bound is None:
            bound = objective
    elif outcome.solution is not None:
        verification = _verify(kind, instance, outcome.solution)

    explanations = outcome.explanations if options.explain or status == Status.INFEASIBLE else []
    kpis = dict(outcome.kpis)
    if changes is not None:
        kpis.update(
            changes_kept=changes.kept,
            changes_moved=changes.moved,
            changes_dropped=changes.dropped,
            changes_added=changes.added,
            change_cost=options.change_penalty * changes.changed,
            objective_before_changes=verification.objective,
        )
    if outcome.solution is not None and status in (Status.OPTIMAL, Status.FEASIBLE):
        # The plan verified: the kind's own readings of it join the model's.
        if kind.kpis is not None:
            kpis.update(kind.kpis(instance, outcome.solution))
        if kind.explain is not None and options.explain:
            explanations = [*explanations, *kind.explain(instance, outcome.solution)]

    run.runtime_s = context.elapsed()
    return Solution(
        **base,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        solution=outcome.solution,
        explanations=explanations,
        kpis=kpis,
        verification=verification,
        changes=changes,
        issues=instance.warnings(),  # a valid instance's issues are only ever warnings
        run=run,
    )
