"""Solve a loans instance: build the candidates, choose a path, write the plan.

The formulation is in ``formulation``, the solver runs in ``backends``; this module only
decides which of them runs on what, and turns the chosen loans into the solution payload.

When no copy can serve two loans in the horizon (and neither shelf nor balance policy is
set) the LP is an assignment and a simplex vertex is an optimal plan: that is the fast
path. Otherwise (``auto`` / ``highs``) the LP relaxation comes first and its solution is
rounded to a plan (``rounding``). Large instances start from each request's cheapest arcs
on their first day and grow the LP by column generation until no candidate loan prices
out; the bound is the Lagrangian bound of the pricing, which at convergence is the LP over
every candidate loan on every day (``colgen``).

Re-planning against ``previous`` (``replan``), the loans that can be kept are candidates in
every path and cost the change penalty less, frozen ones are forced, and the copies are
named so that a kept loan has its previous copy back.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from typing import Any

import numpy as np

from optimizer.core.envelope import Explanation, Status, proven_optimal
from optimizer.core.runner import Outcome, SolveContext
from optimizer.loans import explain
from optimizer.loans.backends import Result, solve_cbc, solve_cp_sat, solve_highs
from optimizer.loans.candidates import Candidates, build_candidates, loan_entry
from optimizer.loans.colgen import solve_priced
from optimizer.loans.courier_model import courier_payload
from optimizer.loans.courier_solve import build_candidates_for, solve_couriers
from optimizer.loans.formulation import Rows, build_rows, is_single_use, objective_coefficients
from optimizer.loans.naming import name_copies
from optimizer.loans.replan import Replan, plan_replan
from optimizer.loans.rota import solve_rota, solve_rota_couriers
from optimizer.loans.rounding import solve_lp_guided
from optimizer.loans.schema import Copy, LoansInstance
from optimizer.loans.settlement import SEARCH_BUDGET_S, settlement

log = logging.getLogger(__name__)

SOLVERS = ("auto", "highs", "cbc", "cp-sat", "rota")


def choose_backend(cands: Candidates, rows: Rows) -> str:
    """``auto`` for the general model: HiGHS always, the fastest to prove small models
    optimal and the only backend near its bound on large ones (measured with
    benchmarks/loans.py; see benchmarks/RESULTS.md)."""
    return "highs"


# Above this many live arcs the model starts from each request's cheapest arcs on their
# first day and column generation brings in the rest (see ``colgen``): past it that reaches
# the full model's plan and bound sooner, below it the full model's MIP can prove
# optimality outright (measured with benchmarks/loans.py; see benchmarks/RESULTS.md).
RESTRICT_ABOVE_ARCS = 5_000
ARCS_PER_REQUEST = 4


def reserve_s(instance: LoansInstance) -> float:
    """Seconds kept back from the solvers for naming copies, explaining and verifying the
    plan, growing with the requests (measured at 20,000 requests; see
    benchmarks/RESULTS.md)."""
    return 0.1 + 2e-4 * len(instance.requests)


# With couriers the plan's runs, reasons and verification take longer per request: 8 s of a
# 60 s solve at 20,000 requests (measured with benchmarks/loans_couriers.py).
COURIER_RESERVE_PER_REQUEST = 5e-4


def with_reserve(
    context: SolveContext, instance: LoansInstance, per_request: float | None = None
) -> SolveContext:
    """The same clock and stop flag, with the time limit shortened by ``reserve_s`` (or by
    ``per_request`` seconds a request)."""
    limit = context.options.time_limit_s
    reserve = (
        reserve_s(instance) if per_request is None else 0.1 + per_request * len(instance.requests)
    )
    inner = max(0.5 * limit, limit - reserve)
    options = context.options.model_copy(update={"time_limit_s": inner})
    return dataclasses.replace(context, options=options)


# Candidate building stops refining (dominance, ship days) past this share of the time.
BUILD_SHARE = 0.45


def solve_model(
    instance: LoansInstance,
    context: SolveContext,
    *,
    method: str | None = None,
    replan: Replan | None = None,
) -> tuple[Candidates, Result]:
    """Candidates and the chosen loans. ``method`` forces "assignment" or "general";
    ``replan`` makes it a re-plan against the previous plan."""
    t0 = time.perf_counter()
    context = with_reserve(context, instance)
    deadline = context.started + BUILD_SHARE * context.options.time_limit_s
    if method is None:
        cands = build_candidates(
            instance,
            max_arcs=ARCS_PER_REQUEST,
            restrict_above=RESTRICT_ABOVE_ARCS,
            deadline=deadline,
            replan=replan,
        )
    else:
        cands = build_candidates(instance, deadline=deadline, replan=replan)
    log.info(
        "%s: %d arcs (%d dominated, %d live), %d candidate loans in %.2fs, exact: %s",
        instance.name,
        len(cands.arcs),
        cands.dominated,
        int(cands.live.sum()),
        len(cands),
        time.perf_counter() - t0,
        cands.exact,
    )
    backend = context.options.solver
    if not len(cands):
        none = np.zeros(0, dtype=np.int64)
        return cands, Result(Status.OPTIMAL, "presolve", none, cands.offset, None, "empty")
    if not cands.exact and backend in ("auto", "highs", "rota"):
        return cands, solve_priced(cands, context)
    rows = build_rows(cands)
    single = is_single_use(cands)
    if method is None:
        method = "assignment" if single and backend in ("auto", "highs") else "general"
    if method == "assignment":
        if not single:
            raise ValueError("the assignment path needs an instance where no copy is reused")
        result = solve_highs(cands, rows, context, relax=True)
        if result.status == Status.OPTIMAL and not result.fractional:
            result.method = "assignment"
            return cands, result
        log.warning("assignment LP did not give an integral plan; solving the MIP")
    if backend in ("auto", "rota"):
        backend = choose_backend(cands, rows)
    if backend == "highs":
        result = solve_lp_guided(cands, rows, context)
    elif backend == "cbc":
        result = solve_cbc(cands, rows, context)
    elif backend == "cp-sat":
        result = solve_cp_sat(cands, rows, context)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    result.method = f"general/{result.method}" if result.method else "general"
    if not cands.exact:
        # The candidate set was cut, so the solver's bound holds only for the cut model.
        result.bound = None
        if result.status == Status.OPTIMAL:
            result.status = Status.FEASIBLE
    return cands, result


def payload_from_selection(cands: Candidates, selected: np.ndarray) -> dict[str, Any]:
    """Name a copy for every chosen loan and write the solution payload."""
    instance = cands.instance
    by_pool: dict[int, list[int]] = defaultdict(list)
    for v in selected.tolist():
        by_pool[cands.arcs[int(cands.var_arc[v])].pool].append(v)
    # A chosen loan that keeps a previous one wants its previous copy back.
    wanted: dict[int, Copy] = {}
    if cands.keeps:
        for keep, v in zip(cands.keeps, cands.keep_vars().tolist(), strict=True):
            if v >= 0:
                wanted[v] = keep.copy
    loans: list[dict[str, Any]] = []
    for p, chosen in by_pool.items():
        pool = cands.pools[p]
        spans = sorted(
            (int(cands.var_day[v]), v, cands.arcs[int(cands.var_arc[v])].busy) for v in chosen
        )
        mine = {v: wanted[v] for v in chosen if v in wanted}
        named = name_copies(instance, pool.copies, spans, mine)
        for day, v, _busy in spans:
            a = cands.arcs[int(cands.var_arc[v])]
            loans.append(
                loan_entry(instance, a.request, named[v], day, a.out_days, a.back_days, a.cost)
            )
    loans.sort(key=lambda e: (e["ship"], e["lender"], e["request"]))
    filled = {e["request"] for e in loans}
    unfilled = [r.id for r in instance.requests if r.id not in filled]
    return {"loans": loans, "unfilled": unfilled}


def _not_given_back(
    cands: Candidates, selected: np.ndarray, payload: dict[str, Any]
) -> set[tuple[str, str]]:
    """The (library, title) pools where a chosen kept loan did not get its copy back."""
    copy_of = {x["request"]: x["copy"] for x in payload["loans"]}
    chosen = set(selected.tolist())
    out: set[tuple[str, str]] = set()
    for keep, v in zip(cands.keeps, cands.keep_vars().tolist(), strict=True):
        rid = cands.instance.requests[keep.request].id
        if v in chosen and copy_of.get(rid) != keep.copy.id:
            out.add((keep.copy.library, keep.copy.title))
    return out


def _copy_by_copy(
    instance: LoansInstance,
    context: SolveContext,
    replan: Replan,
    cands: Candidates,
    result: Result,
    payload: dict[str, Any],
) -> tuple[Candidates, Result, dict[str, Any]]:
    """When the counts of a pool let the model keep more loans than its copies can (the
    naming gave a kept loan another copy), solve again with the kept copies of those pools
    counted one by one, each a pool of its own: exact there, and larger (so not done
    first). Both models only relax the rules that copies impose, so the better bound of
    the two holds; the plan kept is the better one, its objective as the verifier counts."""
    pools = _not_given_back(cands, result.selected, payload)
    if not pools or context.remaining() < 1.0 or instance.policies.keep_one_on_shelf:
        return cands, result, payload
    apart = {k.copy.id for k in cands.keeps if (k.copy.library, k.copy.title) in pools}
    second = dataclasses.replace(replan, apart=replan.apart | apart)
    cands2, result2 = solve_model(instance, context, replan=second)
    log.info("%d pools counted copy by copy: %s", len(pools), result2.status)
    if result2.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return cands, result, payload
    payload2 = payload_from_selection(cands2, result2.selected)

    def objective(c: Candidates, r: Result, p: dict[str, Any]) -> float:
        cost, offset = objective_coefficients(c)
        given_back = {x["request"]: x["copy"] for x in p["loans"]}
        at = c.keep_vars().tolist()
        lost = sum(
            1
            for keep, v in zip(c.keeps, at, strict=True)
            if v in set(r.selected.tolist())
            and given_back.get(instance.requests[keep.request].id) != keep.copy.id
        )
        return float(cost[r.selected].sum()) + offset + lost * replan.penalty

    first, again = objective(cands, result, payload), objective(cands2, result2, payload2)
    bounds = [b for b in (result.bound, result2.bound) if b is not None]
    bound = max(bounds) if bounds else None
    if again < first:
        cands, result, payload, first = cands2, result2, payload2, again
    result.bound = bound
    closed = bound is not None and proven_optimal(first, bound, context.options.relative_gap)
    result.status = Status.OPTIMAL if closed else Status.FEASIBLE
    return cands, result, payload


def frozen_lost(replan: Replan) -> list[Explanation]:
    """Why there is no plan: frozen loans of the previous plan the instance cannot make."""
    return [
        Explanation(
            subject=rid,
            code="frozen_loan_impossible",
            detail=f"the loan of {rid} has shipped (options.now) but cannot be kept: {why}",
        )
        for rid, why in replan.lost
    ]


def frozen_conflict(instance: LoansInstance, forced: list[int]) -> Explanation:
    """Why there is no plan when leaving every request unfilled meets every other rule:
    the frozen loans (of the requests ``forced``) clash."""
    frozen = [instance.requests[q].id for q in forced]
    return Explanation(
        subject=instance.name or "loans",
        code="frozen_loans_conflict",
        detail=(
            "the loans that have shipped (options.now) cannot all be kept under "
            f"the new instance's rules: {', '.join(frozen)}"
        ),
        related=frozen,
    )


def solve_with_couriers(
    instance: LoansInstance, context: SolveContext, replan: Replan | None = None
) -> Outcome:
    """Contract 7.7: every loan rides courier runs; ``rota`` puts each on the first run
    with room (after the frozen loans of ``replan``), the others solve the fixed-charge
    model."""
    if context.options.solver == "rota":
        payload = solve_rota_couriers(instance, replan.keeps if replan is not None else ())
        return _outcome(instance, Status.FEASIBLE, "rota", payload, None, None, context, "rota")
    context = with_reserve(context, instance, per_request=COURIER_RESERVE_PER_REQUEST)
    cands = build_candidates_for(instance, replan)
    log.info("%s: %d candidate loans on %d runs", instance.name, len(cands), len(cands.runs))
    result = solve_couriers(cands, context)
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        conflict = result.status == Status.INFEASIBLE and cands.forced
        return Outcome(
            result.status,
            result.solver,
            bound=result.bound,
            solver_version=result.version,
            explanations=[frozen_conflict(instance, cands.forced)] if conflict else [],
        )
    payload = courier_payload(cands, result.selected)
    outcome = _outcome(
        instance,
        result.status,
        result.solver,
        payload,
        result.bound,
        result.version,
        context,
        result.method,
    )
    outcome.kpis["candidate_loans"] = len(cands)
    outcome.kpis["candidate_days_exact"] = cands.exact
    return outcome


def build_and_solve(instance: LoansInstance, context: SolveContext) -> Outcome:
    replan = plan_replan(instance, context.options)
    if replan is not None and replan.lost:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=frozen_lost(replan))
    if instance.couriers:
        return solve_with_couriers(instance, context, replan)
    if context.options.solver == "rota":
        payload = solve_rota(instance, replan.keeps if replan is not None else ())
        return _outcome(instance, Status.FEASIBLE, "rota", payload, None, None, context, "rota")
    cands, result = solve_model(instance, context, replan=replan)
    if len(result.selected):
        cost, offset = objective_coefficients(cands)
        objective = float(cost[result.selected].sum()) + offset
        context.report(objective=objective, bound=result.bound, solutions=1, phase=result.method)
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        explanations = []
        if result.status == Status.INFEASIBLE and cands.keeps:
            # Leaving every request unfilled meets every other rule: the frozen loans clash.
            forced = [k.request for k in cands.keeps if k.frozen]
            explanations.append(frozen_conflict(instance, forced))
        return Outcome(
            result.status,
            result.solver,
            bound=result.bound,
            solver_version=result.version,
            explanations=explanations,
        )
    payload = payload_from_selection(cands, result.selected)
    if replan is not None:
        cands, result, payload = _copy_by_copy(instance, context, replan, cands, result, payload)
    return _outcome(
        instance,
        result.status,
        result.solver,
        payload,
        result.bound,
        result.version,
        context,
        result.method,
        cands,
    )


def _outcome(
    instance: LoansInstance,
    status: Status,
    solver: str,
    payload: dict[str, Any],
    bound: float | None,
    version: str | None,
    context: SolveContext,
    method: str,
    cands: Candidates | None = None,
) -> Outcome:
    if instance.policies.balance_price is not None:
        # Half the time left at most for the fewest transfers: the verifier searches too.
        budget = min(SEARCH_BUDGET_S, context.remaining() / 2)
        payload["settlement"] = settlement(instance, payload, budget_s=budget)
    explanations = explain.unfilled(instance, payload) if context.options.explain else []
    kpis = explain.kpis(instance, payload)
    kpis["method"] = method
    if cands is not None:
        kpis["candidate_loans"] = len(cands)
        kpis["candidate_days_exact"] = cands.exact
    return Outcome(
        status,
        solver,
        solution=payload,
        bound=bound,
        solver_version=version,
        explanations=explanations,
        kpis=kpis,
    )
