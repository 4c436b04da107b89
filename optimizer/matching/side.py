"""Side rules of pairs mode, for every backend that can state them: fairness minimums, the
worst-off group of ``max_min``, and stability (contract 5.4).

Each family is written once against :class:`Builder`, which PuLP (HiGHS, CBC) and CP-SAT
both implement: a variable, a linear sum with integer or float coefficients, a named
constraint. Blossom takes none of them, so ``auto`` sends an instance with side rules to a
MIP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates, incidence, required_indices


class Builder(Protocol):
    """What a family of constraints needs from a solver's model."""

    def bool_var(self, name: str) -> Any: ...

    def int_var(self, low: int, high: int, name: str) -> Any: ...

    def num_var(self, low: float, high: float, name: str) -> Any: ...

    def weighted(self, terms: Sequence[tuple[Any, float]]) -> Any: ...

    def add(self, constraint: Any, name: str) -> None: ...


class PulpBuilder:
    """:class:`Builder` over a PuLP problem."""

    def __init__(self, problem: Any):
        import pulp

        self.pulp = pulp
        self.problem = problem

    def bool_var(self, name: str) -> Any:
        return self.pulp.LpVariable(name, cat=self.pulp.LpBinary)

    def int_var(self, low: int, high: int, name: str) -> Any:
        return self.pulp.LpVariable(name, lowBound=low, upBound=high, cat=self.pulp.LpInteger)

    def num_var(self, low: float, high: float, name: str) -> Any:
        return self.pulp.LpVariable(name, lowBound=low, upBound=high)

    def weighted(self, terms: Sequence[tuple[Any, float]]) -> Any:
        # LpAffineExpression keeps the last coefficient of a repeated variable; a pair with
        # both members in a group must count twice.
        summed: dict[Any, float] = {}
        for var, coefficient in terms:
            summed[var] = summed.get(var, 0.0) + coefficient
        return self.pulp.LpAffineExpression(list(summed.items()))

    def add(self, constraint: Any, name: str) -> None:
        self.problem += constraint, name


class CpSatBuilder:
    """:class:`Builder` over a CP-SAT model; coefficients must be integers."""

    def __init__(self, model: Any):
        self.model = model

    def bool_var(self, name: str) -> Any:
        return self.model.new_bool_var(name)

    def int_var(self, low: int, high: int, name: str) -> Any:
        return self.model.new_int_var(low, high, name)

    def num_var(self, low: float, high: float, name: str) -> Any:
        raise TypeError("CP-SAT has integer variables only")

    def weighted(self, terms: Sequence[tuple[Any, float]]) -> Any:
        from ortools.sat.python import cp_model

        return cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [int(c) for _, c in terms])

    def add(self, constraint: Any, name: str) -> None:
        self.model.add(constraint).with_name(name)


def has_side_rules(instance: MatchingInstance) -> bool:
    return instance.fairness.active or instance.stability != "report"


def members(instance: MatchingInstance, by: str, group: str) -> list[int]:
    return [i for i, x in enumerate(instance.institutions) if getattr(x, by) == group]


def worst_off_groups(instance: MatchingInstance) -> dict[str, list[int]]:
    """The groups ``max_min`` compares: every value of ``fairness.by`` (or those listed)."""
    fairness = instance.fairness
    names = fairness.groups
    if names is None:
        names = sorted({getattr(x, fairness.by) for x in instance.institutions} - {None})
    return {g: members(instance, fairness.by, g) for g in names}


@dataclass
class SideModel:
    """The variables the families share, made on first use."""

    builder: Builder
    instance: MatchingInstance
    cands: Candidates
    x: list[Any]
    by_node: list[list[int]] = field(default_factory=list)
    matched: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_node = incidence(self.cands, len(self.instance.institutions))

    def matched_terms(self, i: int, weight: float = 1) -> list[tuple[Any, float]]:
        """Terms worth ``weight`` when institution i has a partner, 0 otherwise: its degree
        when its capacity is 1 (no new variable), else a 0-1 variable that may be 1 only
        when it has a partner."""
        inst = self.instance.institutions[i]
        if inst.capacity <= 1:
            return [(self.x[k], weight) for k in self.by_node[i]]
        if i not in self.matched:
            var = self.builder.bool_var(f"matched[{inst.id}][i{i}]")
            self.builder.add(
                self.builder.weighted([(self.x[k], 1) for k in self.by_node[i]] + [(var, -1)]) >= 0,
                f"matched_needs_partner[{inst.id}][i{i}]",
            )
            self.matched[i] = var
        return [(self.matched[i], weight)]

    def touching(self, group: list[int]) -> list[int]:
        """Candidate pairs with at least one member in ``group``, each once."""
        return sorted({k for i in group for k in self.by_node[i]})


def add_fairness_minimums(side: SideModel) -> None:
    """Hard: each group of ``fairness.minimums`` has at least ``matched`` (and ``share`` of
    its) members with a partner, and at least ``pairs`` pairs with a member in it."""
    b = side.builder
    for n, rule in enumerate(side.instance.fairness.minimums):
        group = members(side.instance, rule.by, rule.group)
        label = f"{n}][{rule.by}={rule.group}"
        least = max(rule.matched, math.ceil(rule.share * len(group) - 1e-9))
        if least > 0:
            b.add(
                b.weighted([t for i in group for t in side.matched_terms(i)]) >= least,
                f"min_matched[{label}]",
            )
        if rule.pairs > 0:
            b.add(
                b.weighted([(side.x[k], 1) for k in side.touching(group)]) >= rule.pairs,
                f"min_pairs[{label}]",
            )


@dataclass(frozen=True)
class WorstOff:
    """The worst-off level variable: the level is ``var`` / ``unit``."""

    var: Any
    unit: float
    integral: bool

    def at_least(self, found: float) -> Any:
        """The constraint that keeps the level found by the first solve."""
        if self.integral:
            return self.var >= round(found)
        return self.var >= found - 1e-7 * max(1.0, abs(found))


def add_worst_off(
    side: SideModel, weights: Sequence[float], weight_unit: float, integral: bool
) -> WorstOff:
    """Hard: every compared group's measure is at least the worst-off level (pairs mode).

    A group's measure is its matched share (matched members / members) or its score per
    member (Σ score of the pairs touching it / members), as :func:`worst_off_rows` counts it.
    """

    def measured(group: list[int], lcm: int) -> list[tuple[Any, float]]:
        if side.instance.fairness.measure == "share":
            return [t for i in group for t in side.matched_terms(i, lcm)]
        return [(side.x[k], lcm * weights[k]) for k in side.touching(group)]

    return worst_off_rows(side.builder, side.instance, weights, weight_unit, integral, measured)


def worst_off_rows(
    b: Builder,
    instance: MatchingInstance,
    weights: Sequence[float],
    weight_unit: float,
    integral: bool,
    measured: Callable[[list[int], int], list[tuple[Any, float]]],
) -> WorstOff:
    """The worst-off level and its rows, for pairs and groups mode alike.

    So that the level is exact with integer variables, it is counted in units of 1 / L, L
    the least common multiple of the group sizes: L · measured ≥ |group| · level, where
    ``measured(group, L)`` gives the terms of L · the group's matched members or score.
    ``weights`` are the scores as the model counts them (integers for CP-SAT),
    ``weight_unit`` what one of their units is worth. A score level with float weights
    (``integral`` false) is a continuous variable.
    """
    fairness = instance.fairness
    groups = {g: m for g, m in worst_off_groups(instance).items() if m}
    continuous = fairness.measure == "score" and not integral
    lcm = 1 if continuous else (math.lcm(*(len(m) for m in groups.values())) if groups else 1)
    if fairness.measure == "share":
        high, low = lcm, 0
    else:
        most = math.ceil(sum(abs(w) for w in weights)) + 1
        high, low = lcm * most, -lcm * most
    level = b.num_var(low, high, "worst_off") if continuous else b.int_var(low, high, "worst_off")
    for n, (g, group) in enumerate(groups.items()):
        b.add(
            b.weighted([*measured(group, lcm), (level, -len(group))]) >= 0,
            f"worst_off[{n}][{fairness.by}={g}]",
        )
    unit = lcm * (1.0 if fairness.measure == "share" else weight_unit)
    return WorstOff(level, unit, not continuous)


def add_stability(side: SideModel, scores: Sequence[float]) -> list[tuple[Any, int]]:
    """Hard under ``require``, soft under ``penalise``: no candidate pair blocks the plan.

    For an unselected candidate pair k = {i, j} with a positive score, i does not want j
    exactly when i is full with partners that score at least as much or are required:
    capacity_i · content[i][k] ≤ Σ those partners. Then x_k + content_i + content_j ≥ 1;
    under ``penalise`` a 0-1 ``blocking[i][j]`` may stand in, and the returned list holds
    (variable, candidate) pairs for the objective's penalty.
    """
    b = side.builder
    instance, cands = side.instance, side.cands
    ids = cands.ids
    locked = set(required_indices(instance, cands))
    capacity = [x.capacity for x in instance.institutions]
    penalised: list[tuple[Any, int]] = []
    for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True)):
        score = scores[k]
        if score <= 0 or k in locked or capacity[i] == 0 or capacity[j] == 0:
            continue  # a pair that cannot block, or is always selected
        cover: list[tuple[Any, float]] = [(side.x[k], 1)]
        for end in (i, j):
            others = [
                (side.x[m], 1)
                for m in side.by_node[end]
                if m != k and (scores[m] >= score or m in locked)
            ]
            if len(others) < capacity[end]:
                continue  # end can never be full with better partners: it always wants k
            other = ids[i] if end == j else ids[j]
            content = b.bool_var(f"content[{ids[end]}][{other}][k{k}]")
            b.add(
                b.weighted([*others, (content, -capacity[end])]) >= 0,
                f"content_needs_better[{ids[end]}][{other}][k{k}]",
            )
            cover.append((content, 1))
        if instance.stability == "penalise":
            blocking = b.bool_var(f"blocking[{ids[i]}][{ids[j]}][k{k}]")
            cover.append((blocking, 1))
            penalised.append((blocking, k))
        b.add(b.weighted(cover) >= 1, f"not_blocking[{ids[i]}][{ids[j]}][k{k}]")
    return penalised
