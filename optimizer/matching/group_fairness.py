"""Fairness in groups mode (contract 5.5.1): minimums and ``max_min`` over every listed
candidate group, as one integer programme.

Column generation is not used here: a fairness row would enter every column's reduced cost
and the reduced-cost fixing that proves the set-partitioning optimum. With one 0-1 variable
per candidate group every fairness measure is linear with no helper variable, because an
institution is in one group at most:
    matched members of R  = sum_c x_c |c ∩ R|
    groups touching R     = sum_c x_c [c ∩ R ≠ ∅]
    score touching R      = sum_c x_c score_c [c ∩ R ≠ ∅]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.matching import side as side_rules
from optimizer.matching.groups import ColumnSet, GroupsResult, must_cover
from optimizer.matching.schema import MatchingInstance

MAX_FAIR_COLUMNS = 200_000
"""The most candidate groups the fairness programme lists, one variable each; beyond it
the instance gets ``fairness_too_many_groups`` rather than a slow or unproven solve."""


def _member_counts(instance: MatchingInstance, columns: ColumnSet, members: list[int]) -> Any:
    """How many members of the given institutions each column holds."""
    mask = np.zeros(len(instance.institutions) + 1, dtype=np.int64)
    mask[members] = 1
    # -1 pads each row: it indexes the last entry, which stays 0.
    return mask[columns.members].sum(axis=1)


def _state(
    b: side_rules.Builder, instance: MatchingInstance, columns: ColumnSet
) -> list[Any] | None:
    """Hard: each institution in one group at most (exactly one when it must be grouped),
    and every fairness minimum. Returns x[c], or None when a row that needs a group has
    no candidate group at all (no plan exists)."""
    ids = [x.id for x in instance.institutions]
    x = [b.bool_var(f"group[{c}]") for c in range(len(columns))]
    cover = must_cover(instance)
    rows: list[list[tuple[Any, float]]] = [[] for _ in ids]
    for c, row in enumerate(columns.members):
        for i in row[row >= 0].tolist():
            rows[i].append((x[c], 1))
    for i, terms in enumerate(rows):
        if cover[i] and not terms:
            return None
        if cover[i]:
            b.add(b.weighted(terms) >= 1, f"grouped[{ids[i]}][i{i}]")
        if terms:
            b.add(b.weighted(terms) <= 1, f"one_group[{ids[i]}][i{i}]")
    for n, rule in enumerate(instance.fairness.minimums):
        group = side_rules.members(instance, rule.by, rule.group)
        counts = _member_counts(instance, columns, group).tolist()
        label = f"{n}][{rule.by}={rule.group}"
        least = max(rule.matched, math.ceil(rule.share * len(group) - 1e-9))
        touching = [c for c, n in enumerate(counts) if n]
        if (least > 0 or rule.pairs > 0) and not touching:
            return None
        if least > 0:
            b.add(
                b.weighted([(x[c], counts[c]) for c in touching]) >= least, f"min_matched[{label}]"
            )
        if rule.pairs > 0:
            b.add(b.weighted([(x[c], 1) for c in touching]) >= rule.pairs, f"min_groups[{label}]")
    return x


def _worst_off(
    b: side_rules.Builder,
    instance: MatchingInstance,
    columns: ColumnSet,
    x: list[Any],
    weights: Sequence[float],
    weight_unit: float,
    integral: bool,
) -> side_rules.WorstOff:
    """Hard: every compared group's measure is at least the worst-off level, counted as in
    pairs mode with the consortia as columns: a column counts its members of the group
    (share) or its score (score) when it has any."""

    def measured(group: list[int], lcm: int) -> list[tuple[Any, float]]:
        counts = _member_counts(instance, columns, group).tolist()
        if instance.fairness.measure == "share":
            return [(x[c], lcm * count) for c, count in enumerate(counts) if count]
        return [(x[c], lcm * weights[c]) for c, count in enumerate(counts) if count]

    return side_rules.worst_off_rows(b, instance, weights, weight_unit, integral, measured)


def _no_plan(solver: str) -> GroupsResult:
    return GroupsResult(Status.INFEASIBLE, [], None, solver, None, "fairness")


def _chosen(columns: ColumnSet, picked: list[int]) -> list[list[int]]:
    return [columns.members[c][columns.members[c] >= 0].tolist() for c in picked]


def solve_fair_groups_mip(
    instance: MatchingInstance,
    columns: ColumnSet,
    plain: np.ndarray,
    backend: str,
    context: SolveContext,
) -> GroupsResult:
    """The fairness programme in PuLP (HiGHS or CBC). ``columns`` carry the scores the
    objective counts (with any keep bonus), ``plain`` the groups' own scores, which the
    score measure reads."""
    import pulp

    from optimizer.core.mip import solve_pulp

    problem = pulp.LpProblem("fair_groups", pulp.LpMaximize)
    b = side_rules.PulpBuilder(problem)
    x = _state(b, instance, columns)
    if x is None:
        return _no_plan(backend)
    total = pulp.LpAffineExpression(list(zip(x, columns.score.tolist(), strict=True)))
    first = None
    if instance.fairness.objective == "max_min":
        worst = _worst_off(b, instance, columns, x, plain.tolist(), 1.0, integral=False)
        problem.setObjective(pulp.LpAffineExpression([(worst.var, 1)]))
        first = solve_pulp(problem, backend, context)
        if not first.has_solution:
            return GroupsResult(first.status, [], None, first.solver, first.version, "fairness")
        problem += worst.at_least(worst.var.value()), "worst_off_kept"
    problem.setObjective(total)
    result = solve_pulp(problem, backend, context)
    picked = [c for c, var in enumerate(x) if result.has_solution and (var.value() or 0) > 0.5]
    status, bound = result.status, result.bound
    if first is not None and first.status != Status.OPTIMAL and result.has_solution:
        status, bound = Status.FEASIBLE, None  # the worst-off level is not proven best
    return GroupsResult(
        status, _chosen(columns, picked), bound, result.solver, result.version, "fairness"
    )


def solve_fair_groups_cpsat(
    instance: MatchingInstance, columns: ColumnSet, plain: np.ndarray, context: SolveContext
) -> GroupsResult:
    """The fairness programme in CP-SAT, on integer-scaled scores."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat
    from optimizer.core.scaling import integer_scale

    scaling = integer_scale(np.concatenate([columns.score, plain]))
    model = cp_model.CpModel()
    x = _state(side_rules.CpSatBuilder(model), instance, columns)
    if x is None:
        return _no_plan("cp-sat")
    weights = [int(w) for w in scaling.scaled(columns.score)]
    total = cp_model.LinearExpr.weighted_sum(x, weights)
    first = None
    if instance.fairness.objective == "max_min":
        plain_weights = [int(w) for w in scaling.scaled(plain)]
        worst = _worst_off(
            side_rules.CpSatBuilder(model),
            instance,
            columns,
            x,
            plain_weights,
            1.0 / scaling.scale,
            integral=True,
        )
        model.maximize(worst.var)
        first = run_cpsat(model, context)
        if not first.has_solution:
            return GroupsResult(first.status, [], None, "cp-sat", cpsat_version(), "fairness")
        model.add(worst.at_least(first.solver.value(worst.var)))
        for var in x:
            model.add_hint(var, first.solver.value(var))
    model.maximize(total)
    run = run_cpsat(model, context)
    picked = [c for c, var in enumerate(x) if run.has_solution and run.solver.value(var)]
    bound = None
    if run.bound_scaled is not None:
        # Each selected group's score is rounded by at most half a unit, and at most one
        # group per institution is selected: widen the bound by that much.
        slack = 0.0 if scaling.exact else 0.5 * len(instance.institutions)
        bound = float(Fraction(round(run.bound_scaled)) / scaling.scale) + slack / scaling.scale
    status = run.status
    if first is not None and first.status != Status.OPTIMAL and run.has_solution:
        status, bound = Status.FEASIBLE, None
    return GroupsResult(
        status, _chosen(columns, picked), bound, "cp-sat", cpsat_version(), "fairness"
    )
