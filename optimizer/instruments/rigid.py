"""Rigid requests as a MIP: when no step has a choice of start, what is left to choose is
which requests are served, on which instruments, and by which operators.

This is weighted interval scheduling, on one instrument or on several with each request
free to use only some of them (NP-hard in general). The formulation has a binary
``x[r, k, i, o]`` per step of a request, eligible instrument and (for a staffed step)
qualified operator on shift for the whole step. The first step is booked at most once
(exactly once if the request must be served) and every later step exactly when the first
is; two consecutive steps whose instruments are too far apart for the time between them
exclude each other. Per instrument at most one booking lies in each maximal clique of the
interval graph of its bookings ``[start, end + changeover)``, and per operator at most one
in each clique of its steps ``[start, end)``. Intervals that pairwise meet share a
moment, so these rows forbid exactly the overlaps: the formulation is exact, and its LP
is nearly integral. Quotas are rows of booked minutes.

Measured (``benchmarks/instruments.py`` notes): 3,000 rigid requests on three instruments,
each eligible for one, two or all three, ended 5.7 % short of the optimum after 60 s of
CP-SAT on the full model (7.1 % with operators); HiGHS on these rows proves the optimum
in seconds.

Scope, checked by :func:`applies`: ``max_weighted_served``, every option rigid, and no
request with two steps that may share an instrument with a changeover. Anything else goes
to the CP-SAT model.
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
    """Whether :func:`solve` covers this instance exactly.

    Steps of one request owe each other no changeover on an instrument they share; the
    clique rows would charge it, so requests whose steps share an instrument that has a
    changeover are left to the CP-SAT model (it waives it, see ``_shared_instruments``).
    """
    if tl.instance.objective != "max_weighted_served":
        return False
    if capacity.flexible_option_count(options) != 0:
        return False
    for steps in options:
        seen: set[int] = set()
        for opts in steps:
            here = {i for i, _ in opts if tl.changeover[i] > 0}
            if here & seen:
                return False
            seen |= here
    return True


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

    # One column per (request, step, instrument, operator or None) option, with its one
    # start; a request with a step that has none has no columns at all.
    columns: list[tuple[int, int, int, int | None, int]] = []
    for r, steps in enumerate(options):
        own: list[tuple[int, int, int, int | None, int]] = []
        for k, opts in enumerate(steps):
            step = tl.requests[r].steps[k]
            before = len(own)
            for i, ranges in opts:
                start = ranges[0][0]
                if not step.operator_required:
                    own.append((r, k, i, None, start))
                    continue
                for o in tl.operators_for(i):
                    end = start + step.duration
                    if start_ranges(tl.operator_free[o], step.duration, start, end):
                        own.append((r, k, i, o, start))
            if len(own) == before:
                own = []
                break
        columns += own
    booked_somewhere = {r for r, *_ in columns}
    if not columns or any(
        req.must and r not in booked_somewhere for r, req in enumerate(tl.requests)
    ):
        return None  # a request that must be served cannot be: CP-SAT explains why
    n = len(columns)
    duration = [tl.requests[r].steps[k].duration for r, k, *_ in columns]
    rows: list[tuple[list[int], list[float], float, float]] = []  # (cols, coefs, lower, upper)

    by_step: dict[tuple[int, int], list[int]] = {}
    on: dict[int, list[int]] = {}
    by_operator: dict[int, list[int]] = {}
    for c, (r, k, i, op, _) in enumerate(columns):
        by_step.setdefault((r, k), []).append(c)
        on.setdefault(i, []).append(c)
        if op is not None:
            by_operator.setdefault(op, []).append(c)
    for (r, k), cols in by_step.items():
        if k == 0:  # served at most once, exactly once if it must be
            must = 1.0 if tl.requests[r].must else 0.0
            if len(cols) > 1 or must:
                rows.append((cols, [1.0] * len(cols), must, 1.0))
            continue
        # every later step is booked exactly when the first one is
        first = by_step[(r, 0)]
        rows.append((cols + first, [1.0] * len(cols) + [-1.0] * len(first), 0.0, 0.0))
        # consecutive steps: the next starts after this one ends plus the travel between
        for a in by_step[(r, k - 1)]:
            for b in cols:
                _, _, ia, _, sa = columns[a]
                _, _, ib, _, sb = columns[b]
                if sb < sa + duration[a] + tl.travel_between(ia, ib):
                    rows.append(([a, b], [1.0, 1.0], 0.0, 1.0))

    def at_most_one_at_a_time(cols: list[int], tail: int) -> None:
        segments = [(columns[c][4], columns[c][4] + duration[c] + tail) for c in cols]
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
            for c, (r, _, i, _, _) in enumerate(columns)
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
    # The weight sits on the first step's columns; later steps follow them.
    weight = [round(tl.requests[r].weight * scale) if k == 0 else 0 for r, k, *_ in columns]
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
        Placed(r, k, i, o, start, start + duration[c])
        for c, (r, k, i, o, start) in enumerate(columns)
        if x[c] > 0.5
    ]
    return RigidResult(status, placed, bound)


def version() -> str | None:
    return package_version("highspy")
