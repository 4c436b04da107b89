"""Multi-year plans (contract 5.4.4): one pairs-mode plan per period, tied by a rule.

One 0-1 variable per candidate pair and period, written once against the side rules'
:class:`~optimizer.matching.side.Builder`, so HiGHS, CBC and CP-SAT state the same model:
    maximise  sum_t sum_k score_k x[t][k]
    s.t.      min(min_partners_i, cap_t(i)) <= sum_{k incident to i} x[t][k] <= cap_t(i)
              x[t][k] = 1                                   for each required pair k, period t
              sum_t x[t][k] <= 1                            (new_partner)
              x[t][k] - x[t-1][k] <= x[s][k]  for t < s < t + keep_at_least   (keep)
and each fairness minimum in every period.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from optimizer.core.envelope import Explanation, Status
from optimizer.core.mip import solve_pulp
from optimizer.core.runner import SolveContext
from optimizer.core.scaling import integer_scale
from optimizer.matching import explain
from optimizer.matching import side as side_rules
from optimizer.matching.schema import Fairness, MatchingInstance, Periods
from optimizer.matching.scores import Candidates, incidence, required_indices


@dataclass
class PeriodsResult:
    status: Status
    selected: list[list[int]]  # per period, candidate indices
    bound: float | None
    solver: str
    version: str | None


def the_periods(instance: MatchingInstance) -> Periods:
    assert instance.periods is not None
    return instance.periods


def period_instance(instance: MatchingInstance, t: int) -> MatchingInstance:
    """The instance as period t (from 0) sees it: that period's capacities, and minimum
    partners capped by them, so that every single-period rule reads it unchanged."""
    periods = the_periods(instance)
    institutions = []
    for inst in instance.institutions:
        capacity = periods.capacities(inst)[t]
        institutions.append(
            inst.model_copy(
                update={"capacity": capacity, "min_partners": min(inst.min_partners, capacity)}
            )
        )
    return instance.model_copy(update={"institutions": institutions, "periods": None})


class _InPeriod:
    """A :class:`side_rules.Builder` whose names end with the period, so that the same
    family of rules can be stated once per period in one model."""

    def __init__(self, builder: side_rules.Builder, period: int):
        self.builder = builder
        self.suffix = f"[t{period}]"

    def bool_var(self, name: str) -> Any:
        return self.builder.bool_var(name + self.suffix)

    def int_var(self, low: int, high: int, name: str) -> Any:
        return self.builder.int_var(low, high, name + self.suffix)

    def num_var(self, low: float, high: float, name: str) -> Any:
        return self.builder.num_var(low, high, name + self.suffix)

    def weighted(self, terms: Sequence[tuple[Any, float]]) -> Any:
        return self.builder.weighted(terms)

    def add(self, constraint: Any, name: str) -> None:
        self.builder.add(constraint, name + self.suffix)


def state_periods(
    b: side_rules.Builder, instance: MatchingInstance, cands: Candidates
) -> list[list[Any]]:
    """Hard: each period's capacities, minimum partners, required pairs and fairness
    minimums, and the rule across periods. Returns x[t][k]. Names carry the candidate or
    institution index too: PuLP writes ``-`` as ``_``, so ids alone could collide."""
    periods = the_periods(instance)
    ids = cands.ids
    n = len(instance.institutions)
    by_node = incidence(cands, n)
    required = required_indices(instance, cands)
    x: list[list[Any]] = []
    for t in range(periods.count):
        seen = period_instance(instance, t)
        x.append(
            [
                b.bool_var(f"pair[{ids[i]}][{ids[j]}][k{k}][t{t + 1}]")
                for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True))
            ]
        )
        for i, ks in enumerate(by_node):
            inst = seen.institutions[i]
            degree = b.weighted([(x[t][k], 1) for k in ks])
            if len(ks) > inst.capacity:
                b.add(degree <= inst.capacity, f"capacity[{ids[i]}][i{i}][t{t + 1}]")
            if inst.min_partners > 0:
                b.add(degree >= inst.min_partners, f"min_partners[{ids[i]}][i{i}][t{t + 1}]")
        for k in required:
            b.add(b.weighted([(x[t][k], 1)]) >= 1, f"required[{k}][t{t + 1}]")
        in_period = side_rules.SideModel(_InPeriod(b, t + 1), seen, cands, x[t])
        side_rules.add_fairness_minimums(in_period)
    _add_rule_across_periods(b, periods, cands, x)
    return x


def _add_rule_across_periods(
    b: side_rules.Builder, periods: Periods, cands: Candidates, x: list[list[Any]]
) -> None:
    """Hard: ``new_partner`` (a pair in one period at most) or ``keep`` (a pair formed in
    period t is selected through t + keep_at_least - 1, or the last period)."""
    ids = cands.ids
    count = periods.count
    for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True)):
        name = f"[{ids[i]}][{ids[j]}][k{k}]"
        if periods.rule == "new_partner":
            if count > 1:
                b.add(b.weighted([(x[t][k], 1) for t in range(count)]) <= 1, f"new_partner{name}")
            continue
        for t in range(count):
            formed = [(x[t][k], 1)] + ([(x[t - 1][k], -1)] if t > 0 else [])
            for s in range(t + 1, min(t + periods.keep_at_least, count)):
                b.add(b.weighted([*formed, (x[s][k], -1)]) <= 0, f"keep{name}[t{t + 1}][t{s + 1}]")


def solve_periods_mip(
    instance: MatchingInstance, cands: Candidates, backend: str, context: SolveContext
) -> PeriodsResult:
    """The periods model as a PuLP MIP (HiGHS or CBC)."""
    import pulp

    problem = pulp.LpProblem("periods", pulp.LpMaximize)
    x = state_periods(side_rules.PulpBuilder(problem), instance, cands)
    scores = cands.score.tolist()
    problem.setObjective(
        pulp.LpAffineExpression([(var, scores[k]) for row in x for k, var in enumerate(row)])
    )
    result = solve_pulp(problem, backend, context)
    selected = []
    if result.has_solution:
        selected = [[k for k, var in enumerate(row) if (var.value() or 0.0) > 0.5] for row in x]
    return PeriodsResult(result.status, selected, result.bound, result.solver, result.version)


def solve_periods_cpsat(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> PeriodsResult:
    """The periods model in CP-SAT, on integer-scaled scores."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat

    periods = the_periods(instance)
    scaling = integer_scale(cands.score)
    weights = [int(w) for w in scaling.scaled(cands.score)]
    model = cp_model.CpModel()
    x = state_periods(side_rules.CpSatBuilder(model), instance, cands)
    model.maximize(
        cp_model.LinearExpr.weighted_sum(
            [var for row in x for var in row], [w for _ in x for w in weights]
        )
    )
    run = run_cpsat(model, context)
    selected = [
        [k for k, var in enumerate(row) if run.has_solution and run.solver.value(var)] for row in x
    ]
    bound = None
    if run.bound_scaled is not None:
        # Rounding each score to 1/scale moves a plan's value by at most half a unit per
        # selected pair-period: widen the bound by that much so that it stays a bound.
        pair_periods = sum(sum(periods.capacities(inst)) for inst in instance.institutions) / 2
        slack = 0.0 if scaling.exact else 0.5 * pair_periods
        bound = float(Fraction(round(run.bound_scaled)) / scaling.scale) + slack / scaling.scale
    if not run.has_solution:
        selected = []
    return PeriodsResult(run.status, selected, bound, "cp-sat", cpsat_version())


PeriodsSolve = Callable[[MatchingInstance, Candidates, SolveContext], PeriodsResult]


def price_of_rules(
    instance: MatchingInstance,
    cands: Candidates,
    context: SolveContext,
    solve: PeriodsSolve,
    total: float,
) -> dict[str, Any]:
    """What the rule across periods (``rule``) and the fairness minimums (``fairness``)
    cost, as pairs mode's ``price_of_rules``: the best total without them (one extra solve
    each; both together as ``all`` when both are set), the price against this plan, and
    whether that solve was proven. Lifting the rule is ``keep`` for one period: no tie."""
    lifted_rule = the_periods(instance).model_copy(update={"rule": "keep", "keep_at_least": 1})
    variants: dict[str, dict[str, Any]] = {"rule": {"periods": lifted_rule}}
    if instance.fairness.active:
        variants["fairness"] = {"fairness": Fairness()}
        variants["all"] = {"periods": lifted_rule, "fairness": Fairness()}
    out: dict[str, Any] = {}
    for label, update in variants.items():
        result = solve(instance.model_copy(update=update), cands, context)
        if result.status not in (Status.OPTIMAL, Status.FEASIBLE):
            out[label] = {"total_without": None, "price": None, "exact": False}
            continue
        best = float(sum(cands.score[chosen].sum() for chosen in result.selected))
        out[label] = {
            "total_without": best,
            "price": best - total,
            "exact": result.status == Status.OPTIMAL,
        }
    return out


def payload(instance: MatchingInstance, cands: Candidates, selected: list[list[int]]) -> dict:
    """The solution object: pairs with their period, by period then decreasing score, and
    ``unmatched``: the institutions in no pair of any period (each period's own are in
    ``kpis.periods``)."""
    ids = cands.ids
    pairs: list[dict[str, Any]] = []
    anywhere: set[str] = set()
    for t, chosen in enumerate(selected):
        for k in sorted(chosen, key=lambda k: (-cands.score[k], k)):
            a, b = ids[int(cands.a[k])], ids[int(cands.b[k])]
            entry: dict[str, Any] = {"a": a, "b": b, "score": float(cands.score[k])}
            breakdown = cands.breakdown(k)
            if breakdown is not None:
                entry["breakdown"] = breakdown
            entry["period"] = t + 1
            pairs.append(entry)
            anywhere |= {a, b}
    return {"pairs": pairs, "unmatched": [x for x in ids if x not in anywhere]}


def conflicts(instance: MatchingInstance, cands: Candidates) -> list[Explanation]:
    """The one-period conflicts visible without solving, in each period's view of the
    instance, each reported once with the periods it holds in."""
    count = the_periods(instance).count
    return _by_period(
        [explain.pairs_conflicts(period_instance(instance, t), cands) for t in range(count)]
    )


def unmatched(
    instance: MatchingInstance, cands: Candidates, selected: list[list[int]]
) -> list[Explanation]:
    """A reason for every institution in no pair of any period: the one-period reasons of
    each period, each reported once with the periods it holds in."""
    ids = cands.ids
    placed = {ids[int(end[k])] for chosen in selected for k in chosen for end in (cands.a, cands.b)}
    left_out = [x for x in ids if x not in placed]
    if not left_out:
        return []
    return _by_period(
        [
            explain.unmatched(period_instance(instance, t), cands, chosen, left_out)
            for t, chosen in enumerate(selected)
        ]
    )


def _by_period(per_period: list[list[Explanation]]) -> list[Explanation]:
    """One explanation per distinct reason, its detail led by the periods that give it."""
    when: dict[tuple[str, str, str], list[int]] = {}
    first: dict[tuple[str, str, str], Explanation] = {}
    for t, reasons in enumerate(per_period, start=1):
        for reason in reasons:
            key = (reason.subject, reason.code, reason.detail)
            when.setdefault(key, []).append(t)
            first.setdefault(key, reason)
    out = []
    for key, periods in when.items():
        label = ("period " if len(periods) == 1 else "periods ") + ", ".join(map(str, periods))
        out.append(first[key].model_copy(update={"detail": f"{label}: {key[2]}"}))
    return out


def infeasible(instance: MatchingInstance) -> Explanation:
    periods = the_periods(instance)
    rule = (
        "no pair in two periods"
        if periods.rule == "new_partner"
        else f"a pair kept for at least {periods.keep_at_least} periods once formed"
    )
    return Explanation(
        subject=instance.name or "instance",
        code="infeasible",
        detail=(
            f"no plan of the {periods.count} periods meets every period's capacities, minimum "
            f"partners, required pairs and fairness minimums together with the rule ({rule})"
        ),
    )
