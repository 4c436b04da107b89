"""Solving an instruments week: which way to take, from which warm start, for how long.

The formulation is :mod:`optimizer.instruments.formulation`, the warm start
:mod:`optimizer.instruments.warmstart`; this module chooses between them and the other ways
and turns the result into an :class:`~optimizer.core.runner.Outcome`.

Performance structure, each measured with ``benchmarks/instruments.py``: the best of a few
greedy orders is a complete hint (first-come-first-served also caps the makespan horizon);
capacity rows per instrument type, instrument and operator pool over day windows
(:mod:`optimizer.instruments.capacity`: energy and whole-step packing) are added to the model
and solved as an LP of their own, whose optimum is a proven bound on weighted requests served
(CP-SAT's own bound on large weeks stays near the sum of all weights); subsolvers and probing
are tuned by problem shape (see :func:`_tuning`); identical requests are ordered (symmetry
breaking, :mod:`optimizer.instruments.symmetry`). Rigid requests go to HiGHS
(:mod:`optimizer.instruments.rigid`). Above ``LARGE_INTERVALS`` flexible options (weeks of
about 1,000 requests and more) one CP-SAT run on the full model improves little (its LNS
presolves the whole model per neighbourhood), and at 3,000 requests the model takes longer to
build than a 10 s limit: no model of the whole week is built, the capacity rows give the bound
(the tighter of their LP and HiGHS's dual bound with requests whole), and
:mod:`optimizer.instruments.lns` searches small sub-models from the warm start.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from optimizer.core.cpsat import cpsat_version, run_cpsat
from optimizer.core.envelope import Status
from optimizer.core.numbers import exact_sum
from optimizer.core.runner import Outcome, OutOfTime, SolveContext
from optimizer.core.scaling import IntegerScale, integer_scale
from optimizer.instruments import capacity, explain, fairshare, repack, rigid, symmetry
from optimizer.instruments.formulation import ScheduleModel, weight_scaling
from optimizer.instruments.greedy import GreedyResult, greedy
from optimizer.instruments.lns import improve
from optimizer.instruments.replan import Replan, prepare
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.timeline import Placed, Timeline, build_timeline, to_payload
from optimizer.instruments.warmstart import greedy_value, hint, lp_order, warm_start

log = logging.getLogger(__name__)

SOLVERS = ("auto", "cp-sat", "greedy")

# Above this many (step, instrument) options with more than one start, neighbourhood search
# replaces one CP-SAT run. Rigid options do not count: 1,000 rigid requests on four
# instruments (4,000 options) were proven optimal in 7.5 s by one run, and reached a 27 %
# gap in 30 s by neighbourhood search under the capacity bound.
LARGE_INTERVALS = 3000

# Most of the remaining time the capacity LP may take (GLOP stops there, and gives no bound).
LP_SHARE = 0.2


def build_and_solve(instance: InstrumentsInstance, context: SolveContext) -> Outcome:
    tl = build_timeline(instance)
    # Re-planning: frozen bookings become pins of must-serve requests; the rest of the
    # previous plan is worth keeping (the greedy baseline ignores it but for the frozen).
    replan, problems = prepare(tl, context.options)
    conflicts = problems + explain.static_conflicts(tl)
    if conflicts:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=conflicts)
    base = greedy(tl)
    context.report(phase="greedy", solutions=0 if base.failed_must else 1)
    if context.options.solver == "greedy":
        return _greedy_outcome(tl, base, context)
    return _solve_cpsat(tl, base, context, replan)


def _finish(
    tl: Timeline,
    status: Status,
    solver: str,
    placed: list[Placed],
    context: SolveContext,
    *,
    bound: float | None = None,
    version: str | None = None,
    extra_kpis: dict[str, Any] | None = None,
) -> Outcome:
    payload = to_payload(tl, placed)
    kpis = explain.kpis(tl, placed)
    explanations = (
        explain.unscheduled(tl, placed, explain.proof_note(tl, status, kpis, bound, payload))
        if context.options.explain
        else []
    )
    kpis.update(extra_kpis or {})
    return Outcome(
        status,
        solver,
        solution=payload,
        bound=bound,
        solver_version=version,
        explanations=explanations,
        kpis=kpis,
    )


def _greedy_outcome(tl: Timeline, base: GreedyResult, context: SolveContext) -> Outcome:
    if base.failed_must:
        return Outcome(
            Status.NO_SOLUTION,
            "greedy",
            explanations=explain.greedy_failures(tl, base.failed_must),
        )
    return _finish(tl, Status.FEASIBLE, "greedy", base.bookings, context)


def _solve_cpsat(
    tl: Timeline, base: GreedyResult, context: SolveContext, replan: Replan | None = None
) -> Outcome:
    greedy_ok = not base.failed_must
    upper = None
    # The first-served makespan caps the optimum's; with a change cost it need not.
    if greedy_ok and tl.instance.objective == "min_makespan" and base.bookings and not replan:
        upper = max(p.end for p in base.bookings)
    start = base
    if replan is not None and tl.instance.objective != "max_weighted_served":
        kept = greedy(tl, keep=replan.slots)
        if not kept.failed_must:  # start from the published plan
            start, greedy_ok = kept, True
    extra: dict[str, Any] = {"greedy_objective": greedy_value(tl, base) if greedy_ok else None}
    rel, lp = None, None
    if greedy_ok and tl.instance.objective == "max_weighted_served":
        options = capacity.all_options(tl)
        keepable = 0 if replan is None else _keepable(replan, options)
        rel = capacity.relaxation(tl, options)
        # The LP bounds and guides; it may not take the time the search needs.
        lp = capacity.lp_solution(tl, rel, time_limit=LP_SHARE * context.remaining())
        weights = [r.weight for r in tl.requests]
        scaling, rounding = weight_scaling(weights)
        scale = scaling.scale
        guide, limit, integral = [], math.inf, False
        if lp is not None:
            limit = _settled(lp.bound, scale, rounding)
            guide = [lp_order(tl, options, lp)]
            integral = all(min(x, 1 - x) < 1e-6 for x in lp.served)
        # An integral LP's order is tried first (placed by start it is often the optimum);
        # otherwise after weight per minute, which did better on the 1,000-request benchmark
        # weeks (see benchmarks/RESULTS.md).
        start = warm_start(
            tl, base, context, guide,
            limit if replan is None else limit + replan.penalty * keepable,
            guides_first=integral, replan=replan,
        )  # fmt: skip
        start_value = greedy_value(tl, start)
        # With a change cost the warm start is optimal only if it also keeps all it can.
        keeps_all = replan is None or replan.kept(start.bookings) >= keepable
        # solver "cp-sat" asks for the CP-SAT model; "auto" takes these shorter ways first,
        # unless fair shares are priced: the shortcuts optimise weight alone (contract 6.8).
        shortcut = context.options.solver == "auto" and not fairshare.penalty_per_unit(tl)
        if shortcut and start_value >= limit - 1e-9 and keeps_all:
            # The capacity LP already proves the warm start optimal (rigid requests: the
            # clique rows are integral), so no CP-SAT model is built. Measured: 10,000
            # rigid requests on two instruments, 24 s with CP-SAT, 4 s without.
            extra["note"] = "the warm start meets the capacity LP's bound"
            placed, _ = symmetry.canonical(
                start.bookings, start.served, symmetry.identical_requests(tl)
            )
            return _finish(
                tl, Status.OPTIMAL, "glop", placed, context,
                bound=limit if replan is None else replan.bound(limit, keepable, True),
                version=cpsat_version(), extra_kpis=extra,
            )  # fmt: skip
        # Re-plans of rigid weeks take the CP-SAT model, which carries the keep bonus.
        if shortcut and replan is None and rigid.applies(tl, options):
            # HiGHS reports nothing while it runs: a client watching sees the warm start.
            context.report(
                objective=start_value,
                bound=limit if math.isfinite(limit) else None,
                solutions=1,
                phase="highs",
            )
            outcome = _solve_rigid(tl, options, start, context, extra, limit, scale, rounding)
            if outcome is not None:
                return outcome
        if capacity.flexible_option_count(options) > LARGE_INTERVALS:
            return _solve_large(
                tl, rel, lp, start, context, extra, scaling, rounding, replan, keepable
            )
    try:
        # Large weeks can take longer to build than the limit allows: then the warm start
        # is the answer, rather than a run far past the limit.
        sm = ScheduleModel(
            tl,
            out_of_time=lambda: context.remaining() < 1.0 and greedy_ok,
            relaxation=rel,
            lp=lp,
            replan=replan,
        )
    except OutOfTime:
        extra["note"] = "the time limit ran out while building the model; best greedy order"
        return _finish(tl, Status.FEASIBLE, "greedy", start.bookings, context, extra_kpis=extra)
    sm.set_objective(upper_makespan=upper)
    if greedy_ok:
        hint(sm, start.bookings, start.served)
        if context.remaining() < 1.0:  # CP-SAT could not even load the model in time
            extra["note"] = "no time left for CP-SAT after building the model; best greedy order"
            bound = _greedy_bound(sm)
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, extra_kpis=extra,
            )  # fmt: skip
    makespan = tl.instance.objective == "min_makespan"
    run = run_cpsat(
        sm.model,
        context,
        scale=sm.objective_scale,
        tune=_tuning(sm, makespan),
    )
    version = cpsat_version()
    if run.status == Status.INFEASIBLE:
        return Outcome(
            Status.INFEASIBLE,
            "cp-sat",
            solver_version=version,
            explanations=explain.infeasible_core(tl, context),
        )
    if not run.has_solution:
        if greedy_ok:  # the warm start still stands: report it, with the LP bound if any
            bound = _greedy_bound(sm)
            extra["note"] = "CP-SAT found no schedule in time; this is the best greedy order"
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, version=version, extra_kpis=extra,
            )  # fmt: skip
        return Outcome(run.status, "cp-sat", solver_version=version)
    placed = sm.read(run.solver)
    status, bound = run.status, sm.true_bound(run.bound_scaled)
    return _finish(
        tl, status, "cp-sat", placed, context, bound=bound, version=version, extra_kpis=extra
    )


def _keepable(replan: Replan, options: capacity.Options) -> int:
    """Previous bookings whose slot is still among their step's options: the most a plan
    can keep."""
    return sum(
        any(
            i == q.instrument and any(a <= q.start <= b for a, b in starts)
            for i, starts in options[q.request][q.step]
        )
        for q in replan.slots
    )


def _greedy_bound(sm: ScheduleModel) -> float | None:
    """The capacity LP's bound, for a schedule the model did not improve on."""
    if sm.lp_value is None or sm.replan is None:
        return sm.lp_value
    return sm.replan.bound(sm.lp_value, len(sm.keep), True)


def _solve_rigid(
    tl: Timeline,
    options: capacity.Options,
    start: GreedyResult,
    context: SolveContext,
    extra: dict[str, Any],
    limit: float,
    scale: int,
    rounding: float,
) -> Outcome | None:
    """Rigid requests (no choice of start): HiGHS on the clique MIP of :mod:`rigid`.

    If HiGHS ends without a better schedule, the warm start stands, with the best bound.
    None when the MIP does not settle anything (the CP-SAT model then takes over).
    """
    # Leave time for explanations and verification (about a second at 10,000 requests).
    result = rigid.solve(
        tl, options, context, scale=scale, time_limit=max(0.5, context.remaining() - 1.0)
    )
    if result is None:
        return None
    placed, value, proven = start.bookings, greedy_value(tl, start), False
    if result.placed is not None:  # HiGHS may end with no schedule, or a worse one
        found = exact_sum(tl.requests[r].weight for r in {p.request for p in result.placed})
        if found >= value:
            placed, value = result.placed, found
            proven = result.status == Status.OPTIMAL
    if placed is start.bookings:
        extra["note"] = "HiGHS found no better schedule in time; the best greedy order"
    bounds = [limit] if math.isfinite(limit) else []
    if result.bound is not None:
        mip = _settled(result.bound + rounding, scale, rounding)
        if mip < value - 1e-6 * max(1.0, abs(value)):
            # Below a schedule in hand: the MIP missed a rule (it must not); claim nothing.
            log.warning("rigid MIP bound %s is below a known schedule worth %s", mip, value)
            proven = False
        else:
            bounds.append(mip)
    bound = min(bounds) if bounds else None
    if proven or (bound is not None and value >= bound - 1e-9):
        status, bound = Status.OPTIMAL, max(bound or value, value)  # the optimum is in hand
    else:
        status = Status.FEASIBLE
    placed, _ = symmetry.canonical(
        placed, sorted({p.request for p in placed}), symmetry.identical_requests(tl)
    )
    return _finish(
        tl, status, "highs", placed, context,
        bound=bound, version=rigid.version(), extra_kpis=extra,
    )  # fmt: skip


def _solve_large(
    tl: Timeline,
    rel: capacity.Relaxation,
    lp: capacity.LpSolution | None,
    start: GreedyResult,
    context: SolveContext,
    extra: dict[str, Any],
    scaling: IntegerScale,
    rounding: float,
    replan: Replan | None = None,
    keepable: int = 0,
) -> Outcome:
    """Large weeks: neighbourhood search from the warm start, bounded by the capacity rows.

    No CP-SAT model of the whole week is built: it took longer than 10 s at 3,000 requests,
    and only its bound was used. The bound comes first, so any answer carries it. Where
    there are single staffed sessions, CP-SAT's neighbourhoods alternate with passes of
    :mod:`optimizer.instruments.repack` (HiGHS re-packs a day's sessions) after the first
    ``REPACK_AFTER`` of the time. A re-plan's neighbourhoods count the penalty each kept
    booking saves, and a fair-share penalty the shortfall each plan leaves; re-packing (which
    counts neither) is then left out.
    """
    weights = [r.weight for r in tl.requests]
    value = greedy_value(tl, start)
    limit = _large_bound(tl, rel, lp, context, scaling.scale, rounding)
    context.report(objective=value, bound=limit, solutions=1, phase="cp-sat")
    # What the neighbourhoods maximise: weight served, plus the penalty per kept booking.
    search_bound = limit
    if replan is not None:
        multiplier = max(1, len(replan.slots))
        scaling = integer_scale([*weights, replan.penalty], multiplier=multiplier)
        if search_bound is not None:
            search_bound += replan.penalty * keepable
    per_unit = fairshare.penalty_per_unit(tl)
    if per_unit:  # the fair-share penalty on the same integer scale (contract 6.8)
        change = [] if replan is None else [replan.penalty]
        most = max(fairshare.most_units(tl), 1 if replan is None else len(replan.slots))
        scaling = integer_scale([*weights, per_unit, *change], multiplier=most)
    scale = scaling.scale
    scaled: list[int] = scaling.scaled(weights).tolist()

    def search(placed: list[Placed], served: list[int], until: float) -> tuple[Any, Any, int]:
        """CP-SAT neighbourhoods until ``until`` seconds are left."""
        return improve(
            tl, placed, served, context,
            time_left=lambda: context.remaining() - until,
            scaling=scaling,
            bound=search_bound,
            replan=replan,
            on_improve=lambda v: context.report(
                objective=v, bound=limit, solutions=1, phase="cp-sat"
            ),
            promise=None if lp is None else lp.served,
        )  # fmt: skip

    if replan is not None or per_unit or not repack.applies(tl):
        placed, served, tries = search(start.bookings, start.served, 0.0)
    else:
        total = context.remaining()
        placed, served, tries = search(start.bookings, start.served, (1 - REPACK_AFTER) * total)
        while context.remaining() > 2.0 and not context.stop.is_set():
            if limit is not None and sum(scaled[r] for r in served) >= limit * scale - 1e-9:
                break
            placed, served_set = repack.repack_pass(
                tl, placed, set(served), weight=scaled, time_left=context.remaining,
                threads=context.threads, seed=context.options.seed,
            )  # fmt: skip
            served = sorted(served_set)
            context.report(
                objective=float(exact_sum(weights[r] for r in served)),
                bound=limit, solutions=1, phase="repack",
            )  # fmt: skip
            chunk = min(REPACK_SEARCH_SECONDS, context.remaining())
            placed, served, more = search(placed, served, context.remaining() - chunk)
            tries += more
    extra["neighbourhoods"] = tries
    value = float(sum(tl.requests[r].weight for r in served))
    status = Status.FEASIBLE
    if replan is not None and limit is not None:
        value = replan.combined(value, replan.kept(placed), True)
        limit = replan.bound(limit, keepable, True)
    if limit is not None and value >= limit - 1e-6:
        status = Status.OPTIMAL
    return _finish(
        tl, status, "cp-sat", placed, context,
        bound=limit, version=cpsat_version(), extra_kpis=extra,
    )  # fmt: skip


# Large weeks: the share of the time CP-SAT's neighbourhoods have before re-packing starts,
# and the seconds of neighbourhoods between re-packing passes. Measured on the 1,000-request
# benchmark weeks at 60 s; see benchmarks/RESULTS.md.
REPACK_AFTER = 0.7
REPACK_SEARCH_SECONDS = 8.0
# Share of the time limit the large-week bound may take for HiGHS (the rest improves the
# schedule), and the most seconds. See benchmarks/instruments.py for the measurements.
MIP_BOUND_SHARE = 0.1
MIP_BOUND_SECONDS = 10.0


def _large_bound(
    tl: Timeline,
    rel: capacity.Relaxation,
    lp: capacity.LpSolution | None,
    context: SolveContext,
    scale: int,
    rounding: float,
) -> float | None:
    """The tightest of the capacity LP, the capacity MIP's dual bound and all weights."""
    reachable = sum(r.weight for r, ok in zip(tl.requests, rel.possible, strict=True) if ok)
    candidates = [reachable + rounding]
    if lp is not None:
        candidates.append(lp.bound)
    budget = min(MIP_BOUND_SECONDS, MIP_BOUND_SHARE * context.options.time_limit_s)
    budget = min(budget, context.remaining() - 1.0)
    if budget > 0.2 and not context.stop.is_set():
        mip = capacity.mip_bound(
            tl, rel, time_limit=budget, threads=context.threads, seed=context.options.seed
        )
        if mip is not None:
            candidates.append(mip)
    return _settled(min(candidates), scale, rounding)


def _settled(bound: float, scale: int, rounding: float) -> float:
    """A bound on Σ weight·served, rounded down to what the weights can sum to."""
    if rounding == 0:  # whole scaled weights: the optimum is a whole number of them too
        return math.floor(bound * scale + 1e-9) / scale
    return bound


def _tuning(sm: ScheduleModel, makespan: bool) -> Callable[[Any], None]:
    intervals = sum(len(v) for v in sm.instrument_intervals)

    def tune(params: Any) -> None:
        if makespan and params.num_workers == 2:
            # Measured on ft10 with 2 workers (benchmarks/instruments.py): the default
            # portfolio (default_lp and LNS) finds 930 but leaves the bound at 808 after 60 s;
            # propagation-only search (no_lp) beside default_lp proves 930 in about 33 s.
            params.subsolvers.extend(["no_lp", "default_lp"])
        if intervals > 3000:
            # Measured on a 1,000-request week: presolve probing alone took 19 s of a 20 s
            # budget, so no schedule came back; without it the warm start is in at 2 s.
            params.cp_model_probing_level = 0

    return tune
