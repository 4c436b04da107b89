"""Running a CP-SAT model under the shared options, with progress and cancellation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext

log = logging.getLogger(__name__)


def cpsat_version() -> str | None:
    try:
        return metadata.version("ortools")
    except metadata.PackageNotFoundError:
        return None


@dataclass
class CpSatRun:
    status: Status
    solver: Any  # cp_model.CpSolver, holding the values
    objective_scaled: float | None
    bound_scaled: float | None

    @property
    def has_solution(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)


def run_cpsat(
    model: Any,
    context: SolveContext,
    *,
    scale: float = 1.0,
    time_limit: float | None = None,
    tune: Callable[[Any], None] | None = None,
    threads: int | None = None,
    seed: int | None = None,
    report: bool = True,
) -> CpSatRun:
    """Solve ``model``; report improving solutions (divided by ``scale``) to the context.

    ``tune``, if given, receives the solver's parameters after the shared ones are set, for
    a kind to adjust its search (for example which subsolvers run). ``threads`` and ``seed``
    replace the context's for this run (a sub-solve may draw its own seed, or need one
    worker). With ``report`` false nothing is reported to the context: for sub-solves
    (a neighbourhood, an infeasibility core) whose objective is not the instance's. A stop
    request ends every run, reported or not.
    """
    from ortools.sat.python import cp_model

    options = context.options
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = max(
        0.01, context.remaining() if time_limit is None else time_limit
    )
    params.num_workers = context.threads if threads is None else threads
    params.random_seed = (options.seed if seed is None else seed) % 2**31
    params.relative_gap_limit = options.relative_gap
    params.absolute_gap_limit = 0.0
    params.log_search_progress = log.isEnabledFor(logging.DEBUG)
    if tune is not None:
        tune(params)

    class Progress(cp_model.CpSolverSolutionCallback):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_solution_callback(self) -> None:
            self.count += 1
            if context.stop.is_set():
                self.stop_search()
            context.report(
                objective=self.objective_value / scale,
                bound=self.best_objective_bound / scale,
                solutions=self.count,
                phase="cp-sat",
            )

    # A stop request must end the search even between solutions: watch the flag. Asked
    # again until the run ends, as a request made before the search has started is lost.
    finished = threading.Event()

    def watch_stop() -> None:
        while not finished.wait(0.1):
            if context.stop.is_set():
                solver.stop_search()

    watcher = threading.Thread(target=watch_stop, name="cpsat-stop-watch", daemon=True)
    watcher.start()
    try:
        code = solver.solve(model, Progress() if report else None)
    finally:
        finished.set()
        watcher.join()
    status = {
        cp_model.OPTIMAL: Status.OPTIMAL,
        cp_model.FEASIBLE: Status.FEASIBLE,
        cp_model.INFEASIBLE: Status.INFEASIBLE,
        cp_model.UNKNOWN: Status.NO_SOLUTION,
    }.get(code, Status.ERROR)
    if code == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT rejected the model: {model.validate()}")
    has_solution = status in (Status.OPTIMAL, Status.FEASIBLE)
    has_objective = model.has_objective()
    return CpSatRun(
        status=status,
        solver=solver,
        objective_scaled=solver.objective_value if has_solution and has_objective else None,
        bound_scaled=solver.best_objective_bound if has_solution and has_objective else None,
    )
