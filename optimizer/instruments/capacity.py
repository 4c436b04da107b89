"""Upper bounds on weighted requests served, from capacity rows alone (no CP-SAT model).

Every step may only start where :func:`~optimizer.instruments.timeline.step_options` allows
(inside a free segment of an eligible instrument, within its request's release and deadline,
with a qualified operator on shift if it needs one). From those windows alone come linear
rows that every schedule satisfies, in the requests' served indicators ``x_r``
(:func:`relaxation` gathers them):

* energy, clique and quota rows (:mod:`optimizer.instruments.rows`): the minutes served
  steps must spend inside a window of days never exceed the capacity there (nor their
  core and gpu minutes a cluster's), steps that all
  cover one moment need as many instruments, and an institution's minutes stay within its
  quota;
* packing rows (:mod:`optimizer.instruments.packing`): steps are packed whole into
  operator shifts and instrument free pieces, which wastes room that minutes alone do not
  see;
* sequence rows (:mod:`optimizer.instruments.sequences`): sessions on one instrument follow
  each other and start only where their options allow, so time no session can begin to
  use (an evening after a short attended-start session) is no room either; some are kept
  from the start, the others taken in from a pool where the LP's solution breaks them.

The LP over these rows (:func:`lp_bound`) is cheap even at 3,000 requests, so a bound is
known before any CP-SAT model exists. The same rows with ``x`` binary (:func:`mip_bound`)
are still a relaxation of the schedule, and HiGHS's dual bound on that small MIP is never
weaker than the LP's; on the benchmark weeks it only confirms the LP's value rounded down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from optimizer.core.envelope import Status
from optimizer.instruments.packing import packing_rows
from optimizer.instruments.rows import Item, Row, clique_rows, energy_rows, quota_rows
from optimizer.instruments.sequences import sequence_rows
from optimizer.instruments.timeline import (
    Segment,
    Timeline,
    merge,
    request_windows,
    step_options,
)

log = logging.getLogger(__name__)


# options[r][k]: for step k of request r, (instrument, closed start ranges) per option.
Options = list[list[list[tuple[int, list[Segment]]]]]


@dataclass
class Relaxation:
    """The rows every schedule satisfies, and which requests can be served at all."""

    possible: list[bool]
    energy: list[Row]
    quota: list[Row]
    packing: list[Row]
    clique: list[Row]
    sequence: list[Row] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [*self.energy, *self.quota, *self.packing, *self.clique, *self.sequence]


@dataclass(frozen=True)
class LpSolution:
    """The LP optimum over a relaxation's rows: a bound, and how much of each request."""

    bound: float
    served: list[float]


def all_options(tl: Timeline) -> Options:
    """Where every step may start on each eligible instrument (pins exact), model-free."""
    cache: dict[tuple[Any, ...], list[Segment]] = {}
    out: Options = []
    for req in tl.requests:
        windows = request_windows(req)
        out.append(
            [
                step_options(tl, step, lo, hi_end, exact_pins=True, cache=cache)
                for step, (lo, hi_end) in zip(req.steps, windows, strict=True)
            ]
        )
    return out


def flexible_option_count(options: Options) -> int:
    """(step, instrument) options that leave the step more than one start.

    A rigid option (one start) is an interval CP-SAT never has to place: weighted interval
    scheduling with thousands of them is proven in seconds by the clique rows of the model.
    """
    return sum(
        1
        for steps in options
        for opts in steps
        for _, starts in opts
        if len(starts) > 1 or starts[0][0] != starts[0][1]
    )


def relaxation(tl: Timeline, options: Options) -> Relaxation:
    """The energy, quota, packing, clique and sequence rows of these options."""
    possible = [bool(steps) and all(steps) for steps in options]
    items = []
    for r, steps in enumerate(options):
        if not possible[r]:
            continue
        for step, opts in zip(tl.requests[r].steps, steps, strict=True):
            lo = min(st[0][0] for _, st in opts)
            hi = max(st[-1][1] for _, st in opts) + step.duration
            held = [tl.demand(step, i) for i, _ in opts]
            items.append(
                Item(
                    r, lo, hi, step.duration, frozenset(i for i, _ in opts),
                    step.operator_required, step.attended_minutes,
                    min(c for c, _ in held), min(g for _, g in held),
                )
            )  # fmt: skip
    sequences = sequence_rows(tl, options)
    rel = Relaxation(
        possible,
        energy_rows(tl, items, reachable(tl, options)),
        quota_rows(tl, items),
        packing_rows(tl, items),
        clique_rows(tl, items),
        sequences.rows,
    )
    # The pooled sequence rows are many, and the LP needs few: take in those its solution
    # breaks, a few per family a round, until it breaks none (or the rounds run out).
    for _ in range(SEPARATION_ROUNDS if sequences.pools else 0):
        solution = lp_solution(tl, rel)
        if solution is None:
            break
        broken = [
            row
            for pool in sequences.pools
            for row in pool.violated(solution.served, ROWS_PER_ROUND)
        ]
        if not broken:
            break
        rel.sequence += broken
    return rel


# Rounds of taking in pooled sequence rows the LP breaks, and the most per family a round.
SEPARATION_ROUNDS = 6
ROWS_PER_ROUND = 3


def reachable(tl: Timeline, options: Options) -> list[list[Segment]] | None:
    """Per instrument, the time its bookings can reach at all (each option's starts, plus
    its step's duration), where a step attended only in parts may use it; None where no
    such step exists.

    Such a step starts only while an operator is on shift and runs on unattended, so its
    instrument sits idle from the end of the longest run after the last shift of a week to
    the first shift of the next, minutes the free time alone counts as capacity (contract
    6.7). Instruments without such steps keep their free time as it was, so weeks without
    them get the rows they always had.
    """
    partly = [False] * len(tl.instrument_ids)
    reach: list[list[Segment]] = [[] for _ in tl.instrument_ids]
    for r, steps in enumerate(options):
        for step, opts in zip(tl.requests[r].steps, steps, strict=True):
            for i, starts in opts:
                partly[i] |= step.operator_required and not step.fully_attended
                reach[i] += [(x, y + step.duration) for x, y in starts]
    if not any(partly):
        return None
    return [merge(spans) if partly[i] else tl.free[i] for i, spans in enumerate(reach)]


def _lower(tl: Timeline, rel: Relaxation, r: int) -> float:
    return 1.0 if tl.requests[r].must and rel.possible[r] else 0.0


def lp_bound(tl: Timeline, rel: Relaxation) -> float | None:
    """Upper bound on Σ weight·served: the LP over the rows (GLOP), or None if not solved.

    Every schedule satisfies these rows, so the LP optimum bounds the true optimum.
    """
    solution = lp_solution(tl, rel)
    return None if solution is None else solution.bound


def lp_solution(
    tl: Timeline, rel: Relaxation, time_limit: float | None = None
) -> LpSolution | None:
    """The LP over the rows (GLOP): its optimum as a bound, and each request's share.

    None if GLOP does not solve it (within ``time_limit`` seconds, when given).
    """
    from ortools.linear_solver import pywraplp

    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    if time_limit is not None:
        lp.SetTimeLimit(max(1, int(1000 * time_limit)))
    x = [
        lp.NumVar(_lower(tl, rel, r), 1.0 if rel.possible[r] else 0.0, f"served[{req.id}]")
        for r, req in enumerate(tl.requests)
    ]
    rows = rel.rows
    # Coefficient by coefficient: building expressions with operators took 9 s for the
    # 640,000 terms of 2,000 rigid requests; this takes well under one.
    constraints = []
    for row in rows:
        constraint = lp.Constraint(-lp.infinity(), float(row.cap))
        for r, c in row.need.items():
            constraint.SetCoefficient(x[r], float(c))
        constraints.append(constraint)
    objective = lp.Objective()
    for r, req in enumerate(tl.requests):
        objective.SetCoefficient(x[r], req.weight)
    objective.SetMaximization()
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    duals = [c.dual_value() for c in constraints]
    bound = _dual_bound(tl, rel, rows, duals)
    return LpSolution(bound, [v.solution_value() for v in x])


# Duals are rounded to this grid, so that the bound below is integer arithmetic.
DUAL_GRID = 2**40


def _dual_bound(tl: Timeline, rel: Relaxation, rows: list[Row], duals: list[float]) -> float:
    """A bound on the LP, and so on every schedule, that floating point cannot spoil.

    Weak duality: for any y ≥ 0, Σ w·x ≤ Σ cap·y + Σ_r max(c_r·upper_r, c_r·lower_r) with
    c = w - Aᵀy, for every x within its bounds that satisfies the rows. The solver's duals,
    rounded to a grid and clipped at 0, are such a y; the sum is then computed exactly
    (integers and fractions), so the bound holds whatever the solver's tolerances were,
    and is as tight as its duals are good (within 1e-9 on the benchmark weeks).
    """
    y = [max(0, round(v * DUAL_GRID)) for v in duals]
    priced = [0] * len(tl.requests)
    total = 0
    for row, yk in zip(rows, y, strict=True):
        if yk:
            total += row.cap * yk
            for r, c in row.need.items():
                priced[r] += c * yk
    bound = Fraction(total, DUAL_GRID)
    for r, req in enumerate(tl.requests):
        reduced = Fraction(req.weight) - Fraction(priced[r], DUAL_GRID)
        upper = 1 if rel.possible[r] else 0
        bound += reduced * (upper if reduced > 0 else int(_lower(tl, rel, r)))
    value = float(bound)
    return value if value >= bound else math.nextafter(value, math.inf)


def mip_bound(
    tl: Timeline, rel: Relaxation, *, time_limit: float, threads: int, seed: int
) -> float | None:
    """Upper bound on Σ weight·served: HiGHS's dual bound on the rows with x binary.

    A schedule's served vector is binary and satisfies every row, so the best binary
    vector over the rows is at least the optimum, and HiGHS's dual bound (for a maximum)
    is at least that, whether or not the MIP finished. None when HiGHS proves nothing.
    """
    from optimizer.core import highs as highs_adapter

    n = len(tl.requests)
    rows = rel.rows
    if n == 0 or time_limit <= 0.05:
        return None
    # Only the dual bound is wanted: stop once it is within a hair of the best found.
    h = highs_adapter.new_highs(threads=threads, seed=seed, mip_rel_gap=1e-4)
    highs_adapter.maximise_binary(
        h,
        [req.weight for req in tl.requests],
        ([_lower(tl, rel, r) for r in range(n)], [1.0 if p else 0.0 for p in rel.possible]),
        [
            ([r for r, _ in need], [float(c) for _, c in need], -math.inf, row.cap)
            for row in rows
            for need in [sorted(row.need.items())]
        ],
    )
    status = highs_adapter.run(h, time_limit)
    if status == Status.INFEASIBLE:
        return None  # cannot happen when a schedule exists; claim nothing if it does
    raw = highs_adapter.mip_dual_bound(h)
    if raw is None:
        return None
    # HiGHS works to tolerances of about 1e-6 per row: widen the bound by more than that.
    return float(raw) + 1e-5 * max(1.0, abs(float(raw)))
