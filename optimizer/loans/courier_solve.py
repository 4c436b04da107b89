"""Which path solves a loans instance with couriers (contract 7.7), and for how long.

Up to ``MIP_CANDIDATES`` candidate loans (and always on ``cbc`` and ``cp-sat``, which were
asked for by name) the whole MIP runs and proves its plans, after best response from the
baseline's plan has found one it can fall back on. Above it, where the MIP's LP alone
outlasts the time limit, best response from no loans and perturbations of one library's
loans at a time (``courier_search``) have half the time, and a Lagrangian bound
(``courier_bound``) the rest, to say how far the plan can be from the best; where the
candidates were cut no bound holds, and the rest goes to more perturbations.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from optimizer.core.envelope import Status, proven_optimal
from optimizer.core.runner import SolveContext
from optimizer.loans.backends import Result, run_highs
from optimizer.loans.courier_bound import lagrangian_bound
from optimizer.loans.courier_model import (
    CourierCandidates,
    build_courier_candidates,
    build_courier_model,
    courier_start,
    restricted_to,
    solve_courier_model,
)
from optimizer.loans.courier_search import Search
from optimizer.loans.replan import Replan
from optimizer.loans.rota import solve_rota_couriers
from optimizer.loans.schema import LoansInstance

log = logging.getLogger(__name__)

# Above this many candidate loans HiGHS did not finish the MIP's root LP in the time: on the
# western consortium example (51,404 candidates) not within 25 s, the LP alone not within
# 60 s (see benchmarks/RESULTS.md).
MIP_CANDIDATES = 5_000
# Candidate loans the search handles in the time of a 60 s solve at 20,000 requests; past
# it each request keeps its soonest pools, ``DAYS_WHEN_CAPPED`` runs out each (measured
# with benchmarks/loans_couriers.py; see benchmarks/RESULTS.md).
CANDIDATE_BUDGET = 400_000
DAYS_WHEN_CAPPED = 5
# A share this large holds every candidate of a request in the examples (at most 384 in the
# western consortium), so up to 1,000 requests the candidates are never cut.
UNCAPPED_SHARE = 400
# Above MIP_CANDIDATES the search starts from no loans: best response from the baseline's
# plan stalled higher (western example: 45,879 against 43,411 from no loans).
START_FROM_BASELINE = False
# Share of the time left that the search may take before the MIP, and before the polish.
SEARCH_SHARE_BEFORE_MIP = 0.2
SEARCH_SHARE = 0.35
# The MIP over the runs the search's plan uses: up to this many candidates, with this share
# of the time left (800 requests at 25 libraries give about 5,300, proven in 11 s; on the
# western example it took the plan from 41,639 to 40,166 in 11 s, and the bound needs only a
# few seconds of what is left; see benchmarks/RESULTS.md).
POLISH_CANDIDATES = 20_000
POLISH_SHARE = 0.7


def _polish(cands: CourierCandidates, search: Search, context: SolveContext) -> bool:
    """The MIP over the candidates with a leg on a run the search's plan uses (its own loans
    among them), when small enough: it re-decides which requests ride which of those runs
    and which runs close. Its plan replaces the search's when cheaper. False when it does
    not run (too many candidates, too little time)."""
    keep = [
        v
        for v in range(len(cands))
        if search.load[cands.out_run[v]] > 0 or search.load[cands.back_run[v]] > 0
    ]
    budget = POLISH_SHARE * context.remaining()
    if not keep or len(keep) > POLISH_CANDIDATES or budget < 1.0:
        return False
    sub = restricted_to(cands, keep)
    model = build_courier_model(sub)
    run = run_highs(
        model.matrix, model.cost, model.lower, model.upper, context, relax=False, time_limit=budget
    )
    if run.x is None or model.cost @ run.x + model.offset >= search.objective() - 1e-9:
        return True
    choice = np.full(len(search.choice), -1, dtype=np.int64)
    for i in np.flatnonzero(run.x[: len(sub)] > 0.5).tolist():
        choice[cands.request[keep[i]]] = keep[i]
    search.restore(choice)
    log.info(
        "%s: the MIP over the plan's runs lowered it to %.2f", cands.instance.name, search.total
    )
    return True


def build_candidates_for(
    instance: LoansInstance, replan: Replan | None = None
) -> CourierCandidates:
    """Every candidate loan up to 1,000 requests; above, each request's share of
    ``CANDIDATE_BUDGET``, its soonest pools first, ``DAYS_WHEN_CAPPED`` runs out each (and
    the previous loans of ``replan`` that can be kept)."""
    share = CANDIDATE_BUDGET // max(1, len(instance.requests))
    if share >= UNCAPPED_SHARE:
        return build_courier_candidates(instance, replan=replan)
    return build_courier_candidates(
        instance, max_per_request=share, max_days=min(share, DAYS_WHEN_CAPPED), replan=replan
    )


def solve_couriers(cands: CourierCandidates, context: SolveContext) -> Result:
    """The chosen loans, with an honest status and bound; re-planning, against the previous
    loans ``cands`` were built with."""
    instance = cands.instance
    n = len(cands)
    search = Search(cands)
    if not search.fixed_fit:
        none = np.zeros(0, dtype=np.int64)
        return Result(Status.INFEASIBLE, "presolve", none, None, None, "frozen")
    exact = context.options.solver in ("cbc", "cp-sat") or n <= MIP_CANDIDATES
    if cands.kept_copy:
        # Re-planning starts from the previous plan, as far as it still fits: the search
        # then changes a loan only where that gains more than the change costs.
        search.keep_previous()
    elif exact or START_FROM_BASELINE:
        start = courier_start(cands, solve_rota_couriers(instance))
        for v in np.flatnonzero(start[:n] > 0.5).tolist():
            search.place(v)
    share = SEARCH_SHARE_BEFORE_MIP if exact else SEARCH_SHARE
    until = time.perf_counter() + share * context.remaining()
    moves = search.improve(until, context.options.seed)
    opened = search.consolidate(until)
    if opened:
        moves += search.improve(until, context.options.seed)
    if not exact:
        rounds = search.perturb(until, context.options.seed)
        log.info("%s: %d perturbation rounds improved the plan", instance.name, rounds)
    log.info("%s: best response made %d moves: %.2f", instance.name, moves, search.objective())
    if exact:
        plan = np.zeros(n + len(cands.runs))
        plan[search.selected()] = 1.0
        plan[n:] = search.load > 0
        return solve_courier_model(cands, build_courier_model(cands), context, start=plan)
    if not _polish(cands, search, context):
        # The polish's time goes to more perturbations.
        later = time.perf_counter() + POLISH_SHARE * context.remaining()
        search.perturb(later, context.options.seed + 1)
    if cands.exact:
        objective = search.objective()
        bound = lagrangian_bound(cands, objective, time.perf_counter() + context.remaining())
    else:  # no bound holds over cut candidates: the time left improves the plan instead
        search.perturb(time.perf_counter() + context.remaining(), context.options.seed + 2)
        objective, bound = search.objective(), -np.inf
    closed = np.isfinite(bound) and proven_optimal(objective, bound, context.options.relative_gap)
    return Result(
        Status.OPTIMAL if closed else Status.FEASIBLE,
        "best-response",
        search.selected(),
        float(bound) if np.isfinite(bound) else None,
        None,
        "best-response+lagrangian",
    )
