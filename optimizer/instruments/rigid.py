"""Rigid requests as a MIP: when no step has a choice of start, what is left to choose is
which requests are served, on which instrument, and by which operator.

This is weighted interval scheduling, on one instrument or on several with each request
free to use only some of them (NP-hard in general). The formulation has a binary
``x[r, i, o]`` per request, eligible instrument and (for a staffed step) qualified
operator on shift for the whole step; at most one per request (exactly one if it must be
served); per instrument at most one booking in each maximal clique of the interval graph
of its bookings ``[start, end + changeover)``, and per operator at most one in each clique
of its steps ``[start, end)``. Intervals that pairwise meet share a moment, so these rows
forbid exactly the overlaps: the formulation is exact, and its LP is nearly integral.
Quotas are rows of booked minutes.

Measured (``benchmarks/instruments.py`` notes): 3,000 rigid requests on three instruments,
each eligible for one, two or all three, ended 5.7 % short of the optimum after 60 s of
CP-SAT on the full model (7.1 % with operators); HiGHS on these rows proves the optimum
in seconds.

Scope, checked by :func:`applies`: ``max_weighted_served``, every request one step, and
every option rigid. Anything else goes to the CP-SAT model.
"""

from __future__ import annotations

import logging

import numpy as np

from optimizer.core.envelope import Status
from optimizer.core.mip import highs_status, package_version, prepare_highs
from optimizer.core.runner import SolveContext
from optimizer.instruments import capacity
from optimizer.instruments.timeline import Placed, Timeline, maximal_cliques, start_ranges

log = logging.getLogger(__name__)


def applies(tl: Timeline, options: capacity.Options) -> bool:
    """Whether :func:`solve` covers this instance exactly."""
    return (
        tl.instance.objective == "max_weighted_served"
        and all(len(req.steps) == 1 for req in tl.requests)
        and capacity.flexible_option_count(options) == 0
    )


class RigidResult:
    """HiGHS's answer: the bookings, what it proved, and its bound in weight units."""

    def __init__(self, status: Status, placed: list[Placed] | None, bound: float | None) -> None:
        self.status = status
        self.placed = placed
        self.bound = bound


def solve(
    tl: Timeline,
    options: capacity.Options,
    context: SolveContext,
    *,
    scale: int,
    time_limit: float,
) -> RigidResult | None:
    """The MIP above on HiGHS: its schedule (None if it found none in time) and bound.
    None when it does not apply after all (a request that must be served cannot be).

    Weights are multiplied by ``scale`` and rounded, so the objective is whole and the
    search stops only when no better whole value remains. No warm start is passed: given
    one (``setSolution``), HiGHS 1.16 returned the warm start's columns beside the
    optimum's objective when presolve solved a four-request instance outright (found by
    the property test in ``tests/instruments/test_rigid.py``). The columns read back are
    checked against the objective HiGHS reports all the same.
    """
    import highspy

    # One column per (request, instrument, operator or None) option, with its one start.
    columns: list[tuple[int, int, int | None, int]] = []
    for r, steps in enumerate(options):
        if not steps:
            continue
        step = tl.requests[r].steps[0]
        for i, ranges in steps[0]:
            start = ranges[0][0]
            if not step.operator_required:
                columns.append((r, i, None, start))
                continue
            for o in tl.operators_for(i):
                on_shift = start_ranges(
                    tl.operator_free[o], step.duration, start, start + step.duration
                )
                if on_shift:
                    columns.append((r, i, o, start))
    booked_somewhere = {r for r, *_ in columns}
    if not columns or any(
        req.must and r not in booked_somewhere for r, req in enumerate(tl.requests)
    ):
        return None  # a request that must be served cannot be: CP-SAT explains why
    n = len(columns)
    duration = [tl.requests[r].steps[0].duration for r, *_ in columns]
    rows: list[tuple[list[int], list[float], float, float]] = []  # (cols, coefs, lower, upper)

    by_request: dict[int, list[int]] = {}
    on: dict[int, list[int]] = {}
    by_operator: dict[int, list[int]] = {}
    for c, (r, i, op, _) in enumerate(columns):
        by_request.setdefault(r, []).append(c)
        on.setdefault(i, []).append(c)
        if op is not None:
            by_operator.setdefault(op, []).append(c)
    for r, cols in by_request.items():
        must = 1.0 if tl.requests[r].must else 0.0
        if len(cols) > 1 or must:
            rows.append((cols, [1.0] * len(cols), must, 1.0))

    def at_most_one_at_a_time(cols: list[int], tail: int) -> None:
        segments = [(columns[c][3], columns[c][3] + duration[c] + tail) for c in cols]
        for clique in maximal_cliques(segments):
            if len(clique) > 1:
                rows.append(([cols[k] for k in clique], [1.0] * len(clique), 0.0, 1.0))

    for i, cols in on.items():
        at_most_one_at_a_time(cols, tl.changeover[i])
    for cols in by_operator.values():
        at_most_one_at_a_time(cols, 0)
    for (institution, kind), quota in tl.quotas.items():
        cols = [
            c
            for c, (r, i, _, _) in enumerate(columns)
            if tl.requests[r].institution == institution and tl.instrument_type[i] == kind
        ]
        if cols and sum(duration[c] for c in cols) > quota:
            rows.append((cols, [float(duration[c]) for c in cols], 0.0, float(quota)))

    prepare_highs(context.threads)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", context.threads)
    h.setOptionValue("time_limit", max(0.05, time_limit))
    h.setOptionValue("random_seed", context.options.seed % 2**31)
    h.setOptionValue("mip_rel_gap", context.options.relative_gap)
    h.setOptionValue("mip_abs_gap", 0.5)  # whole scaled weights: below one unit is proof
    row_starts, index, value = [0], [], []
    for cols, coefs, _, _ in rows:
        index += cols
        value += coefs
        row_starts.append(len(index))
    weight = [round(tl.requests[r].weight * scale) for r, *_ in columns]
    h.passModel(
        n,
        len(rows),
        len(index),
        2,  # row-wise matrix
        -1,  # maximise
        0.0,
        np.array(weight, dtype=float),
        np.zeros(n),
        np.ones(n),
        np.array([lo for *_, lo, _ in rows], dtype=float),
        np.array([hi for *_, hi in rows], dtype=float),
        np.array(row_starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=float),
        np.ones(n, dtype=np.int32),
    )
    h.run()
    status = highs_status(h)
    if status == Status.INFEASIBLE:
        return None  # the CP-SAT model explains which mandatory requests clash
    raw = h.getInfo().mip_dual_bound
    bound = float(raw) / scale if raw is not None and abs(raw) < 1e30 else None
    if status not in (Status.OPTIMAL, Status.FEASIBLE):
        log.debug("rigid MIP: %s", h.modelStatusToString(h.getModelStatus()))
        return RigidResult(Status.NO_SOLUTION, None, bound)
    x = h.getSolution().col_value
    claimed = h.getInfo().objective_function_value
    if abs(sum(w for w, v in zip(weight, x, strict=True) if v > 0.5) - claimed) > 0.5:
        log.warning("rigid MIP: HiGHS's columns do not add up to its objective %s", claimed)
        return None
    placed = [
        Placed(r, 0, i, o, start, start + duration[c])
        for c, (r, i, o, start) in enumerate(columns)
        if x[c] > 0.5
    ]
    return RigidResult(status, placed, bound)


def version() -> str | None:
    return package_version("highspy")
