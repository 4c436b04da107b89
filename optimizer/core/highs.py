"""Every HiGHS object of UniShare is made, configured, run and read here.

HiGHS has three habits that each bit us once when handled in several places:

- it sizes one process-wide thread scheduler on first use, and a run asking for another
  thread count later fails outright (status kError, nothing solved);
- its time limit counts from the object's creation over all its runs, so a master LP run
  again and again with a "plain" limit is cut short more and more;
- the first object prints a banner on stdout, which may carry the CLI's JSON.

:func:`new_highs` and :func:`run` deal with all three, so a kind only states its model.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from optimizer.core.envelope import Status

log = logging.getLogger(__name__)

_banner_silenced = False
_scheduler_threads: int | None = None


def version() -> str | None:
    try:
        return metadata.version("highspy")
    except metadata.PackageNotFoundError:
        return None


def prepare_scheduler(threads: int) -> None:
    """Size HiGHS's process-wide scheduler for ``threads`` before an object runs with them.

    Resets on the first call too: a run with HiGHS's default thread count (PuLP's, say)
    sizes the scheduler for all cores before we get here.
    """
    global _scheduler_threads
    import highspy

    silence_banner()
    if _scheduler_threads != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads


def silence_banner() -> None:
    """Create the first HiGHS object with file descriptor 1 on /dev/null: it prints a
    copyright banner on stdout, and later objects print nothing."""
    global _banner_silenced
    if _banner_silenced:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_silenced = True


def new_highs(*, threads: int, seed: int, **options: Any) -> Any:
    """A HiGHS object running on ``threads`` threads with ``seed``, quiet unless this
    module's logger is at DEBUG, with any further HiGHS ``options`` (``mip_rel_gap``,
    ``solver``…). Give it its time limit per run, with :func:`run`."""
    import highspy

    prepare_scheduler(threads)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", log.isEnabledFor(logging.DEBUG))
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("random_seed", seed % 2**31)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    return highs


def run(highs: Any, time_limit: float, *, feasible_counts: bool = True) -> Status:
    """Run ``highs`` for at most ``time_limit`` seconds from now; what it proved.

    With ``feasible_counts`` false (an LP whose stopped-early point is no answer), only a
    proven optimum counts as a solution.
    """
    highs.setOptionValue("time_limit", highs.getRunTime() + max(0.01, time_limit))
    highs.run()
    status = highs_status(highs, feasible_counts=feasible_counts)
    log.debug("HiGHS: %s", highs.modelStatusToString(highs.getModelStatus()))
    return status


def highs_status(highs: Any, *, feasible_counts: bool = True) -> Status:
    """Our status for a finished HiGHS run: what HiGHS proved, not what a wrapper says."""
    import highspy

    model_status = highs.getModelStatus()
    if model_status == highspy.HighsModelStatus.kOptimal:
        return Status.OPTIMAL
    if model_status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return Status.INFEASIBLE
    has_primal = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    return Status.FEASIBLE if has_primal and feasible_counts else Status.NO_SOLUTION


def mip_dual_bound(highs: Any) -> float | None:
    """The MIP's dual bound in the model's own sense, or None when HiGHS proved none."""
    raw = highs.getInfo().mip_dual_bound
    if raw is None or not math.isfinite(raw) or abs(raw) >= 1e30:
        return None
    return float(raw)


def objective_value(highs: Any) -> float:
    return float(highs.getInfo().objective_function_value)


def pass_model(
    highs: Any,
    matrix: Any,
    cost: Any,
    lower: Any,
    upper: Any,
    *,
    integer: bool,
    maximise: bool = False,
    column_bounds: tuple[Any, Any] | None = None,
) -> None:
    """Give HiGHS "min (or max) cost · x, lower ≤ matrix · x ≤ upper", x within
    ``column_bounds`` (default [0, 1]), binary if ``integer``; ``matrix`` is a scipy sparse
    matrix (CSR, or anything that converts to it)."""
    import numpy as np

    matrix = matrix.tocsr()
    n = matrix.shape[1]
    col_lower, col_upper = column_bounds if column_bounds is not None else (0.0, 1.0)
    highs.passModel(
        n,
        matrix.shape[0],
        matrix.nnz,
        2,  # row-wise matrix
        -1 if maximise else 1,
        0.0,
        np.asarray(cost, dtype=np.float64),
        np.broadcast_to(np.asarray(col_lower, dtype=np.float64), (n,)).copy(),
        np.broadcast_to(np.asarray(col_upper, dtype=np.float64), (n,)).copy(),
        np.asarray(lower, dtype=np.float64),
        np.asarray(upper, dtype=np.float64),
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(np.float64),
        np.full(n, 1 if integer else 0, dtype=np.int32),
    )


def maximise_binary(
    highs: Any,
    objective: Sequence[float],
    column_bounds: tuple[Sequence[float], Sequence[float]],
    rows: Sequence[tuple[Sequence[int], Sequence[float], float, float]],
) -> None:
    """Hand HiGHS "maximise objective · x over binary x within ``column_bounds``, with
    lower ≤ Σ coefficient · x[column] ≤ upper per row (columns, coefficients, lower,
    upper)"."""
    from scipy.sparse import csr_matrix

    starts: list[int] = [0]
    index: list[int] = []
    value: list[float] = []
    for columns, coefficients, _, _ in rows:
        index += columns
        value += coefficients
        starts.append(len(index))
    matrix = csr_matrix((value, index, starts), shape=(len(rows), len(objective)))
    pass_model(
        highs,
        matrix,
        objective,
        [row[2] for row in rows],
        [row[3] for row in rows],
        integer=True,
        maximise=True,
        column_bounds=column_bounds,
    )
