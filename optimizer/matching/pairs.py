"""Pairs mode: a degree-constrained maximum-weight matching (b-matching) over candidate pairs.

Backends: a MIP through PuLP (HiGHS or CBC) and a CP-SAT model. Both state the same problem:
    maximise  sum_k score_k x_k
    s.t.      min_partners_i <= sum_{k incident to i} x_k <= capacity_i   for each institution i
              x_k = 1                                                      for each required pair
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from optimizer.core.envelope import Status
from optimizer.core.mip import package_version, solve_pulp
from optimizer.core.runner import SolveContext
from optimizer.core.scaling import integer_scale
from optimizer.matching import side as side_rules
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates, incidence, required_indices

log = logging.getLogger(__name__)


@dataclass
class PairsResult:
    status: Status
    selected: list[int]  # candidate indices
    bound: float | None
    solver: str
    version: str | None


def solve_pairs_mip(
    instance: MatchingInstance,
    cands: Candidates,
    backend: str,
    context: SolveContext,
    plain: Candidates | None = None,
) -> PairsResult:
    """Hard: capacity, min_partners, required pairs and the side rules, as a PuLP MIP.

    ``cands`` carry the scores the objective counts (with any keep bonus); ``plain`` the
    candidates' own scores, which stability and fairness read (the same when omitted).
    """
    import pulp

    plain = cands if plain is None else plain
    n = len(instance.institutions)
    ids = cands.ids
    problem = pulp.LpProblem("pairs", pulp.LpMaximize)
    x = [
        pulp.LpVariable(f"pair_{ids[i]}_{ids[j]}_{k}", cat=pulp.LpBinary)
        for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True))
    ]
    terms = list(zip(x, cands.score.tolist(), strict=True))
    for i, ks in enumerate(incidence(cands, n)):
        inst = instance.institutions[i]
        if not ks:
            continue
        degree = pulp.LpAffineExpression([(x[k], 1) for k in ks])
        if len(ks) > inst.capacity:
            problem += degree <= inst.capacity, f"capacity_{i}"
        if inst.min_partners > 0:
            problem += degree >= inst.min_partners, f"min_partners_{i}"
    for k in required_indices(instance, cands):
        x[k].lowBound = 1
    side = side_rules.SideModel(side_rules.PulpBuilder(problem), instance, plain, x)
    side_rules.add_fairness_minimums(side)
    if instance.stability != "report":
        penalised = side_rules.add_stability(side, plain.score.tolist())
        terms += [(var, -instance.stability_penalty) for var, _ in penalised]
    total = pulp.LpAffineExpression(terms, name="total_score")
    first = None
    if instance.fairness.objective == "max_min":
        worst = side_rules.add_worst_off(side, plain.score.tolist(), 1.0, integral=False)
        problem.setObjective(pulp.LpAffineExpression([(worst.var, 1)]))
        first = solve_pulp(problem, backend, context)
        if not first.has_solution:
            return PairsResult(first.status, [], None, first.solver, first.version)
        problem += worst.at_least(worst.var.value()), "worst_off_kept"
    problem.setObjective(total)
    result = solve_pulp(problem, backend, context)
    selected = []
    if result.has_solution:
        selected = [k for k, var in enumerate(x) if (var.value() or 0.0) > 0.5]
    status, bound = result.status, result.bound
    if first is not None and first.status != Status.OPTIMAL and result.has_solution:
        # The worst-off level is not proven best: neither is the plan, nor any bound on it.
        status, bound = Status.FEASIBLE, None
    return PairsResult(status, selected, bound, result.solver, result.version)


def is_plain_matching(instance: MatchingInstance) -> bool:
    """Capacities of at most one: a classic matching (min_partners is then 0 or 1)."""
    return all(inst.capacity <= 1 for inst in instance.institutions)


def solve_pairs_blossom(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> PairsResult:
    """Hard: one partner at most, min_partners 1, required pairs — Edmonds' blossom algorithm.

    Exact for a maximum-weight matching (rustworkx). Required pairs are fixed first and
    their members removed. Institutions that must be matched (min_partners = 1) lift every
    pair they are in by a constant larger than any total score, so a maximum-weight matching
    first covers as many of them as possible and then maximises the score: if it still
    leaves one uncovered, no matching covers them all. rustworkx takes integer weights:
    scores are scaled by a power of ten and, when no scale makes them integral, the bound is
    widened by the largest possible rounding error, so the status never claims more than
    was proven.
    """
    import rustworkx as rx

    n = len(instance.institutions)
    fixed = required_indices(instance, cands)
    blocked = np.zeros(n, dtype=bool)
    for k in fixed:
        blocked[cands.a[k]] = blocked[cands.b[k]] = True
    capacity = np.array([inst.capacity for inst in instance.institutions])
    usable = (capacity[cands.a] >= 1) & (capacity[cands.b] >= 1)
    usable &= ~blocked[cands.a] & ~blocked[cands.b]
    must = np.array([inst.min_partners >= 1 for inst in instance.institutions]) & ~blocked
    scaling = integer_scale(cands.score)
    scale, exact = scaling.scale, scaling.exact
    weights = [int(w) for w in scaling.scaled(cands.score)]
    lift = 1 + sum(abs(w) for w in weights)  # Python ints: no overflow
    graph = rx.PyGraph()
    graph.add_nodes_from(range(n))
    ks = np.flatnonzero(usable).tolist()
    graph.add_edges_from(
        [
            (
                int(cands.a[k]),
                int(cands.b[k]),
                weights[k] + lift * (int(must[cands.a[k]]) + int(must[cands.b[k]])),
            )
            for k in ks
        ]
    )
    matching = rx.max_weight_matching(graph, weight_fn=int)
    chosen = [k for k in (cands.index(u, v) for u, v in matching) if k is not None]
    covered = np.zeros(n, dtype=bool)
    for k in chosen:
        covered[cands.a[k]] = covered[cands.b[k]] = True
    version = f"rustworkx {package_version('rustworkx')}"
    if (must & ~covered).any():
        return PairsResult(Status.INFEASIBLE, [], None, "blossom", version)
    selected = sorted(fixed + chosen)
    rounded_optimum = sum(weights[k] for k in chosen)
    slack = 0.0 if exact else 0.5 * (n // 2) / scale
    bound = float(cands.score[fixed].sum()) + rounded_optimum / scale + slack
    return PairsResult(Status.OPTIMAL, selected, bound, "blossom", version)


def solve_pairs_cpsat(
    instance: MatchingInstance,
    cands: Candidates,
    context: SolveContext,
    plain: Candidates | None = None,
) -> PairsResult:
    """Hard: capacity, min_partners, required pairs and the side rules, as a CP-SAT model
    with integer scores (``plain`` as in :func:`solve_pairs_mip`)."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat

    plain = cands if plain is None else plain
    n = len(instance.institutions)
    ids = cands.ids
    penalty = instance.stability_penalty if instance.stability == "penalise" else 0.0
    scaling = integer_scale(np.concatenate([cands.score, plain.score, [penalty]]))
    scale, exact = scaling.scale, scaling.exact
    weights = scaling.scaled(cands.score).tolist()
    model = cp_model.CpModel()
    x = [
        model.new_bool_var(f"pair[{ids[i]}][{ids[j]}]")
        for i, j in zip(cands.a.tolist(), cands.b.tolist(), strict=True)
    ]
    for i, ks in enumerate(incidence(cands, n)):
        inst = instance.institutions[i]
        if ks:
            model.add(sum(x[k] for k in ks) <= inst.capacity)
            if inst.min_partners:
                model.add(sum(x[k] for k in ks) >= inst.min_partners)
        elif inst.min_partners:
            model.add_bool_or([])  # no candidate can meet min_partners: infeasible
    for k in required_indices(instance, cands):
        model.add(x[k] == 1)
    side = side_rules.SideModel(side_rules.CpSatBuilder(model), instance, plain, x)
    side_rules.add_fairness_minimums(side)
    terms = list(zip(x, weights, strict=True))
    penalised = []
    if instance.stability != "report":
        penalised = side_rules.add_stability(side, plain.score.tolist())
        unit_penalty = int(scaling.scaled([penalty])[0])
        terms += [(var, -unit_penalty) for var, _ in penalised]
    total = cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [w for _, w in terms])
    first = None
    if instance.fairness.objective == "max_min":
        plain_weights = scaling.scaled(plain.score).tolist()
        worst = side_rules.add_worst_off(side, plain_weights, 1.0 / scale, integral=True)
        model.maximize(worst.var)
        first = run_cpsat(model, context)
        if not first.has_solution:
            return PairsResult(first.status, [], None, "cp-sat", cpsat_version())
        model.add(worst.at_least(first.solver.value(worst.var)))
        model.clear_hints()
        for var in x:
            model.add_hint(var, first.solver.value(var))
    model.maximize(total)
    run = run_cpsat(model, context)
    selected = [k for k, var in enumerate(x) if run.has_solution and run.solver.value(var)]
    bound = None
    if run.bound_scaled is not None:
        # Rounding each score to 1/scale moves any solution's value by at most half a unit
        # per selected pair; widen the bound by that much so it stays a true bound.
        # (and per blocking pair, whose rounded penalty may count once each).
        pairs = sum(inst.capacity for inst in instance.institutions) / 2
        slack = 0.0 if exact else 0.5 * (pairs + len(penalised))
        bound = float(Fraction(round(run.bound_scaled)) / scale) + slack / scale
    status = run.status
    if first is not None and first.status != Status.OPTIMAL and run.has_solution:
        status, bound = Status.FEASIBLE, None
    return PairsResult(status, selected, bound, "cp-sat", cpsat_version())
