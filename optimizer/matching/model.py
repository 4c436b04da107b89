"""Build and solve a matching instance: candidates, the chosen backend, the solution payload."""

from __future__ import annotations

import logging
from typing import Any

from optimizer.core.envelope import Explanation, Status
from optimizer.core.runner import Outcome, OutOfTime, SolveContext
from optimizer.matching import explain, group_fairness, groups, periods, replan, side, side_plans
from optimizer.matching.pairs import (
    PairsResult,
    is_plain_matching,
    solve_pairs_blossom,
    solve_pairs_cpsat,
    solve_pairs_mip,
)
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates, build_candidates
from optimizer.matching.slots import solve_groups_compact

log = logging.getLogger(__name__)

SOLVERS = ("auto", "highs", "cbc", "cp-sat")


def choose_pairs_backend(instance: MatchingInstance, cands: Candidates) -> str:
    """``auto`` for pairs mode, by measurement (``benchmarks/matching.py``).

    A plain matching (capacities <= 1) goes to Edmonds' blossom algorithm: exact, and two orders of magnitude faster than any MIP on 500-2,000
    institutions (the MIPs branch on odd cycles of the LP relaxation). Everything else is a
    MIP, and so is a plain matching with side rules (fairness, stability), which blossom
    cannot take.
    """
    if is_plain_matching(instance) and not side.has_side_rules(instance):
        return "blossom"
    return "highs"


def build_and_solve(instance: MatchingInstance, context: SolveContext) -> Outcome:
    try:
        cands = build_candidates(
            instance, out_of_time=lambda: context.remaining() <= 0 or context.stop.is_set()
        )
    except OutOfTime as exc:
        reason = Explanation(
            subject=instance.name or "instance",
            code="time_limit_in_candidates",
            detail=f"the time limit ran out while building candidate pairs ({exc})",
        )
        return Outcome(Status.NO_SOLUTION, context.options.solver, explanations=[reason])
    log.debug("%s: %d candidate pairs", instance.name, len(cands))
    if instance.periods is not None:
        return _solve_periods(instance, cands, context)
    if instance.mode == "pairs":
        return _solve_pairs(instance, cands, context)
    return _solve_groups(instance, cands, context)


def _pairs_result(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> PairsResult:
    """The chosen backend's answer on the candidates, with any keep bonus of ``previous``."""
    backend = context.options.solver
    if backend == "auto":
        backend = choose_pairs_backend(instance, cands)
    weighed, breaking_all = replan.pairs_with_keep_bonus(
        instance, cands, context.options.change_penalty
    )
    if (
        context.options.solver == "auto"
        and side.has_side_rules(instance)
        and side_plans.relaxation_certifies(instance)
        and is_plain_matching(instance)
    ):
        # The optimum without the side rules bounds the optimum with them: when it meets
        # them, it is optimal, and blossom finds it far faster than a MIP.
        relaxed = solve_pairs_blossom(instance, weighed, context)
        if relaxed.status == Status.OPTIMAL and side_plans.meets_side_rules(
            instance, cands, relaxed.selected
        ):
            if relaxed.bound is not None:
                relaxed.bound -= breaking_all
            return relaxed
    if backend == "blossom":
        result = solve_pairs_blossom(instance, weighed, context)
    elif backend == "cp-sat":
        result = solve_pairs_cpsat(instance, weighed, context, plain=cands)
    else:
        result = solve_pairs_mip(instance, weighed, backend, context, plain=cands)
    if result.bound is not None:
        result.bound -= breaking_all
    return result


def _solve_pairs(instance: MatchingInstance, cands: Candidates, context: SolveContext) -> Outcome:
    conflicts = explain.pairs_conflicts(instance, cands)
    if conflicts:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=conflicts)
    result = _pairs_result(instance, cands, context)
    if result.status == Status.INFEASIBLE:
        reasons = side_plans.infeasibility(instance, cands, context, _pairs_result)
        if not reasons:
            reasons = explain.pairs_infeasibility_by_relaxation(instance, cands, context)
        return Outcome(
            Status.INFEASIBLE,
            result.solver,
            solver_version=result.version,
            explanations=reasons,
        )
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return Outcome(
            result.status, result.solver, bound=result.bound, solver_version=result.version
        )
    ids = cands.ids
    pairs = []
    for k in sorted(result.selected, key=lambda k: (-cands.score[k], k)):
        entry: dict[str, Any] = {
            "a": ids[int(cands.a[k])],
            "b": ids[int(cands.b[k])],
            "score": float(cands.score[k]),
        }
        breakdown = cands.breakdown(k)
        if breakdown is not None:
            entry["breakdown"] = breakdown
        pairs.append(entry)
    matched = {p["a"] for p in pairs} | {p["b"] for p in pairs}
    unmatched = [x for x in ids if x not in matched]
    payload = {"pairs": pairs, "unmatched": unmatched}
    figures: dict[str, Any] = {"candidate_pairs": len(cands)}
    without: dict[str, Any] = {}
    if side.has_side_rules(instance):
        total = float(cands.score[result.selected].sum())
        figures["price_of_rules"] = side_plans.price_of_rules(
            instance, cands, context, _pairs_result, total, plans=without
        )
    explanations = (
        explain.unmatched(
            instance,
            cands,
            result.selected,
            unmatched,
            side_plans.unmatched_notes(instance, cands, without) if without else None,
        )
        if context.options.explain
        else []
    )
    return Outcome(
        result.status,
        result.solver,
        solution=payload,
        bound=result.bound,
        solver_version=result.version,
        explanations=explanations,
        kpis=figures,
    )


def _solve_periods(instance: MatchingInstance, cands: Candidates, context: SolveContext) -> Outcome:
    """Every period in one model (contract 5.4.4); blossom cannot state it, so ``auto`` is
    HiGHS."""
    conflicts = periods.conflicts(instance, cands)
    if conflicts:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=conflicts)
    result = _periods_result(instance, cands, context)
    if result.status == Status.INFEASIBLE:
        return Outcome(
            Status.INFEASIBLE,
            result.solver,
            solver_version=result.version,
            explanations=[periods.infeasible(instance)],
        )
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return Outcome(
            result.status, result.solver, bound=result.bound, solver_version=result.version
        )
    total = float(sum(cands.score[chosen].sum() for chosen in result.selected))
    return Outcome(
        result.status,
        result.solver,
        solution=periods.payload(instance, cands, result.selected),
        bound=result.bound,
        solver_version=result.version,
        explanations=(
            periods.unmatched(instance, cands, result.selected) if context.options.explain else []
        ),
        kpis={
            "candidate_pairs": len(cands),
            "price_of_rules": periods.price_of_rules(
                instance, cands, context, _periods_result, total
            ),
        },
    )


def _periods_result(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> periods.PeriodsResult:
    """The chosen backend's answer to the periods model (``auto``: HiGHS)."""
    backend = context.options.solver
    if backend == "cp-sat":
        return periods.solve_periods_cpsat(instance, cands, context)
    chosen = "highs" if backend == "auto" else backend
    return periods.solve_periods_mip(instance, cands, chosen, context)


def _solve_groups(instance: MatchingInstance, cands: Candidates, context: SolveContext) -> Outcome:
    conflicts = explain.groups_conflicts(instance)
    if conflicts:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=conflicts)
    backend = context.options.solver
    if backend == "auto":
        backend = "highs"
    if instance.fairness.active and _candidate_groups(instance) > group_fairness.MAX_FAIR_COLUMNS:
        reason = Explanation(
            subject=instance.name or "instance",
            code="fairness_too_many_groups",
            detail=(
                f"fairness in groups mode lists every candidate group, and this instance has up "
                f"to {_candidate_groups(instance):,} (the limit is "
                f"{group_fairness.MAX_FAIR_COLUMNS:,}); lower group.max_size or set "
                "group.same_region"
            ),
        )
        return Outcome(Status.NO_SOLUTION, backend, explanations=[reason])
    result = _groups_by_size(instance, cands, backend, context)
    if result.status == Status.INFEASIBLE:

        def solve(variant: MatchingInstance, c: Candidates, ctx: SolveContext) -> Any:
            return _groups_by_size(variant, c, backend, ctx)

        reasons = side_plans.infeasibility(instance, cands, context, solve)
        return Outcome(
            Status.INFEASIBLE,
            result.solver,
            solver_version=result.version,
            explanations=reasons or explain.groups_infeasibility(instance),
        )
    if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return Outcome(
            result.status, result.solver, bound=result.bound, solver_version=result.version
        )
    ids = cands.ids
    weights = {}
    for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True)):
        weights[(i, j)] = float(cands.score[k])

    def group_score(members: list[int]) -> float:
        return sum(
            weights.get((min(i, j), max(i, j)), 0.0)
            for x, i in enumerate(members)
            for j in members[x + 1 :]
        )

    ordered = sorted((sorted(g) for g in result.groups), key=lambda g: (-group_score(g), g))
    chosen_groups: list[dict[str, Any]] = [
        {"id": f"g{k + 1}", "members": [ids[i] for i in g], "score": group_score(g)}
        for k, g in enumerate(ordered)
    ]
    grouped = {m for g in chosen_groups for m in g["members"]}
    ungrouped = [x for x in ids if x not in grouped]
    payload = {"groups": chosen_groups, "ungrouped": ungrouped}
    explanations = (
        explain.ungrouped(instance, cands, chosen_groups, ungrouped)
        if context.options.explain
        else []
    )
    kpis: dict[str, Any] = {"candidate_pairs": len(cands), "method": result.method}
    if instance.fairness.active:
        without: dict[str, Any] = {}
        kpis["price_of_rules"] = side_plans.price_of_rules(
            instance,
            cands,
            context,
            lambda variant, c, ctx: _groups_by_size(variant, c, backend, ctx),
            sum(g["score"] for g in chosen_groups),
            value=lambda plan: sum(group_score(g) for g in plan.groups),
            plans=without,
        )
        notes = side_plans.unmatched_notes(instance, cands, without)
        explanations = side_plans.with_rule_notes(explanations, notes)
    return Outcome(
        result.status,
        result.solver,
        solution=payload,
        bound=result.bound,
        solver_version=result.version,
        explanations=explanations,
        kpis=kpis,
    )


def _candidate_groups(instance: MatchingInstance) -> int:
    """How many groups the size rules allow (before hubs and required pairs remove some)."""
    sizes = [len(b) for b in groups.blocks(instance)]
    return groups.count_groups(sizes, instance.group.min_size, instance.group.max_size)


def _groups_by_size(
    instance: MatchingInstance, cands: Candidates, backend: str, context: SolveContext
) -> groups.GroupsResult:
    """Set partitioning over every candidate group while they can be listed; the compact
    slot model beyond that."""
    total = _candidate_groups(instance)
    if total > groups.MAX_COLUMNS:
        log.info("%d candidate groups: using the compact CP-SAT model", total)
        return solve_groups_compact(instance, cands, context)
    listed = groups.enumerate_groups(instance, cands)
    columns, breaking_all = replan.columns_with_keep_bonus(
        instance, cands, listed, context.options.change_penalty
    )
    if instance.fairness.active and backend == "cp-sat":
        result = group_fairness.solve_fair_groups_cpsat(instance, columns, listed.score, context)
    elif instance.fairness.active:
        result = group_fairness.solve_fair_groups_mip(
            instance, columns, listed.score, backend, context
        )
    else:
        result = groups.solve_set_partitioning(instance, columns, backend, context)
    if result.bound is not None:
        result.bound -= breaking_all
    return result
