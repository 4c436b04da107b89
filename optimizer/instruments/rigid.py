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

Where CP-SAT on the full model stays several per cent short after a minute, HiGHS on these
rows proves the optimum in seconds (``benchmarks/instruments.py --part intervals``; see
``benchmarks/RESULTS.md``).

Scope, checked by :func:`applies`: ``max_weighted_served``, every option rigid, no
request with two steps that may share an instrument with a changeover, no parallel
instrument and no step attended only in parts (contract 6.7). Anything else goes
to the CP-SAT model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
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
    if not one_at_a_time_only(tl):
        return False
    for steps in options:
        seen: set[int] = set()
        for opts in steps:
            here = {i for i, _ in opts if tl.changeover[i] > 0}
            if here & seen:
                return False
            seen |= here
    return True


def one_at_a_time_only(tl: Timeline) -> bool:
    """Whether every instrument holds one booking at a time and every staffed step is
    attended throughout (contract 6.7): the clique rows below assume both."""
    return not any(tl.parallel(i) for i in range(len(tl.instrument_ids))) and all(
        step.fully_attended for req in tl.requests for step in req.steps if step.operator_required
    )


@dataclass(frozen=True)
class RigidResult:
    """HiGHS's answer: what it proved, its bookings (None: none found), its bound."""

    status: Status
    placed: list[Placed] | None
    bound: float | None  # in weight units


# lower ≤ Σ coefficient · x[column] ≤ upper: (columns, coefficients, lower, upper)
Row = tuple[list[int], list[float], float, float]


def bookings_at(tl: Timeline, request: int, step: int, instrument: int, start: int) -> list[Placed]:
    """The ways to book that step on that instrument at ``start``: one per qualified
    operator on shift for the whole step, or the one unstaffed booking."""
    end = start + tl.requests[request].steps[step].duration
    if not tl.requests[request].steps[step].operator_required:
        return [Placed(request, step, instrument, None, start, end)]
    return [
        Placed(request, step, instrument, o, start, end)
        for o in tl.operators_for(instrument)
        if start_ranges(tl.operator_free[o], end - start, start, end)
    ]


def columns_of(tl: Timeline, options: capacity.Options) -> list[Placed]:
    """Every booking there could be, one per (request, step, instrument, operator) at its
    one start; a request with a step that cannot be booked at all has none."""
    out: list[Placed] = []
    for r, steps in enumerate(options):
        own: list[Placed] = []
        for k, opts in enumerate(steps):
            ways = [b for i, ranges in opts for b in bookings_at(tl, r, k, i, ranges[0][0])]
            if not ways:
                own = []
                break
            own += ways
        out += own
    return out


def served_once(tl: Timeline, columns: list[Placed]) -> list[Row]:
    """Hard: a request's first step is booked at most once, exactly once if it must be;
    every later step exactly when the first is; consecutive steps leave time to travel."""
    by_step: dict[tuple[int, int], list[int]] = {}
    for c, col in enumerate(columns):
        by_step.setdefault((col.request, col.step), []).append(c)
    rows = []
    for (r, k), cols in by_step.items():
        if k == 0:
            must = 1.0 if tl.requests[r].must else 0.0
            if len(cols) > 1 or must:
                rows.append((cols, [1.0] * len(cols), must, 1.0))
            continue
        first = by_step[(r, 0)]
        rows.append((cols + first, [1.0] * len(cols) + [-1.0] * len(first), 0.0, 0.0))
        for a in by_step[(r, k - 1)]:
            for b in cols:
                before, after = columns[a], columns[b]
                travel = tl.travel_before(
                    tl.requests[r].steps[k], before.instrument, after.instrument
                )
                if after.start < before.end + travel:
                    rows.append(([a, b], [1.0, 1.0], 0.0, 1.0))
    return rows


def one_at_a_time(tl: Timeline, columns: list[Placed]) -> list[Row]:
    """Hard: bookings on one instrument (changeover included) never overlap, nor do the
    steps of one operator: at most one in each maximal clique of their intervals."""
    on: dict[int, list[int]] = {}
    by_operator: dict[int, list[int]] = {}
    for c, col in enumerate(columns):
        on.setdefault(col.instrument, []).append(c)
        if col.operator is not None:
            by_operator.setdefault(col.operator, []).append(c)
    groups = [(cols, tl.changeover[i]) for i, cols in on.items()]
    groups += [(cols, 0) for cols in by_operator.values()]
    rows = []
    for cols, tail in groups:
        segments = [(columns[c].start, columns[c].end + tail) for c in cols]
        for clique in maximal_cliques(segments):
            if len(clique) > 1:
                rows.append(([cols[k] for k in clique], [1.0] * len(clique), 0.0, 1.0))
    return rows


def within_quotas(tl: Timeline, columns: list[Placed]) -> list[Row]:
    """Hard: an institution's weighted booked minutes never exceed a quota or budget."""
    rows = []
    for limit in tl.limits:
        cols = [
            c
            for c, col in enumerate(columns)
            if tl.requests[col.request].institution == limit.institution
            and limit.rate[col.instrument]
        ]
        units = [
            float(limit.units(columns[c].instrument, columns[c].end - columns[c].start))
            for c in cols
        ]
        if sum(units) > limit.cap:
            rows.append((cols, units, 0.0, float(limit.cap)))
    return rows


def solve(
    tl: Timeline,
    options: capacity.Options,
    context: SolveContext,
    *,
    scale: int,
    time_limit: float,
) -> RigidResult | None:
    """The MIP above on HiGHS (:func:`maximise`, weights times ``scale``, rounded): its
    schedule (None if it found none in time) and bound. None when it settles nothing: a
    request that must be served cannot be, or HiGHS's answer does not add up.
    """
    columns = columns_of(tl, options)
    booked_somewhere = {col.request for col in columns}
    if not columns or any(
        req.must and r not in booked_somewhere for r, req in enumerate(tl.requests)
    ):
        return None  # a request that must be served cannot be: CP-SAT explains why
    rows = served_once(tl, columns) + one_at_a_time(tl, columns) + within_quotas(tl, columns)
    # The weight sits on the first step's columns; later steps follow them.
    weight = [
        round(tl.requests[col.request].weight * scale) if col.step == 0 else 0 for col in columns
    ]
    status, chosen, raw = maximise(
        weight,
        rows,
        threads=context.threads,
        seed=context.options.seed,
        time_limit=time_limit,
        relative_gap=context.options.relative_gap,
    )
    if status in (Status.INFEASIBLE, Status.ERROR):
        return None  # the CP-SAT model explains which mandatory requests clash, or takes over
    bound = None if raw is None else raw / scale
    placed = None if chosen is None else [columns[c] for c in chosen]
    return RigidResult(status, placed, bound)


def maximise(
    weight: list[int],
    rows: list[Row],
    *,
    threads: int,
    seed: int,
    time_limit: float,
    relative_gap: float = 0.0,
) -> tuple[Status, list[int] | None, float | None]:
    """HiGHS on "maximise Σ weight · x over binary x within ``rows``": its status, the
    columns it chose (None without a schedule) and its dual bound.

    Weights are whole, so the search stops only when no better whole value remains. No
    warm start is passed: given one (``setSolution``), HiGHS 1.16 returned the warm start's
    columns beside the optimum's objective when presolve solved a four-request instance
    outright (found by the property test in ``tests/instruments/test_rigid.py``). Columns
    that do not add up to the objective HiGHS reports come back as ``Status.ERROR``.
    """
    h = highs_adapter.new_highs(
        threads=threads,
        seed=seed,
        mip_rel_gap=relative_gap,
        mip_abs_gap=0.5,  # whole weights: below one unit is proof
    )
    highs_adapter.maximise_binary(h, weight, ([0.0] * len(weight), [1.0] * len(weight)), rows)
    status = highs_adapter.run(h, max(0.05, time_limit))
    bound = highs_adapter.mip_dual_bound(h)
    if status not in (Status.OPTIMAL, Status.FEASIBLE):
        return status, None, bound
    x = h.getSolution().col_value
    chosen = [c for c, v in enumerate(x) if v > 0.5]
    claimed = highs_adapter.objective_value(h)
    if abs(sum(weight[c] for c in chosen) - claimed) > 0.5:
        log.warning("HiGHS's columns do not add up to its objective %s", claimed)
        return Status.ERROR, None, bound
    return status, chosen, bound


def version() -> str | None:
    return highs_adapter.version()
