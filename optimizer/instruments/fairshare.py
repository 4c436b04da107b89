"""Fair share in the CP-SAT models: one shortfall variable per target (contract 6.8).

In hundredths of a minute, so that it is whole: with a target of p percent, an institution's
decayed minutes D_i and the type's total D,

    100 · shortfall = max(0, p · D − 100 · D_i),

where D and D_i are the minutes the model books (sums of option literals times durations)
plus constants: the rounded history, and in a neighbourhood of a large week the bookings
kept fixed outside it. The models maximise weight less the penalty on these; the verifier
recomputes the shortfalls from the plan on its own (:mod:`optimizer.instruments.costs`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from optimizer.instruments.timeline import Placed, Timeline
from optimizer.instruments.variables import StepVars

Minutes = dict[tuple[str, str], int]
"""(institution, instrument type) -> minutes."""


@dataclass(frozen=True)
class Shortfall:
    var: Any
    """100 × the target's shortfall in minutes, an integer variable ≥ 0."""
    most: int
    """Its upper bound: the most it can be, in hundredths of a minute."""
    institution: str
    instrument_type: str
    percent: int
    fixed_own: int
    """The institution's minutes on the type that the model does not decide: history, and
    bookings fixed outside the model."""
    fixed_all: int
    """The same for every institution together."""

    def value(self, booked: Minutes) -> int:
        """100 × the shortfall when the model books ``booked`` minutes."""
        kind = self.instrument_type
        everyone = self.fixed_all + sum(m for (_, t), m in booked.items() if t == kind)
        mine = self.fixed_own + booked.get((self.institution, kind), 0)
        return max(0, self.percent * everyone - 100 * mine)


def penalty_per_unit(tl: Timeline) -> float:
    """Objective units per hundredth of a shortfall minute (0 without a penalty or targets,
    and under the objectives that do not take one)."""
    instance = tl.instance
    if not instance.fair_share or instance.objective != "max_weighted_served":
        return 0.0
    return instance.fair_share_penalty / 100


def rounded_history(tl: Timeline) -> Minutes:
    """(institution, type) -> its decayed earlier minutes, rounded halves up."""
    instance = tl.instance
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for u in instance.usage_history:
        sums[(u.institution, u.instrument_type)] += u.minutes * 0.5 ** (
            u.weeks_ago / instance.history_half_life_weeks
        )
    return {key: math.floor(v + 0.5) for key, v in sums.items()}


def booked_minutes(tl: Timeline, placed: list[Placed]) -> Minutes:
    out: Minutes = defaultdict(int)
    for p in placed:
        out[(tl.requests[p.request].institution, tl.instrument_type[p.instrument])] += (
            p.end - p.start
        )
    return out


def plan_units(tl: Timeline, placed: list[Placed]) -> int:
    """Σ over the targets of 100 × the shortfall of the whole plan ``placed``."""
    history = rounded_history(tl)
    booked = booked_minutes(tl, placed)
    total = 0
    for f in tl.instance.fair_share:
        kind, who = f.instrument_type, f.institution
        everyone = sum(m for (_, t), m in history.items() if t == kind)
        everyone += sum(m for (_, t), m in booked.items() if t == kind)
        mine = history.get((who, kind), 0) + booked.get((who, kind), 0)
        total += max(0, round(f.target * 100) * everyone - 100 * mine)
    return total


def most_units(tl: Timeline) -> int:
    """An upper bound on :func:`plan_units` over all plans: every target short of the most
    the type can hold."""
    history = rounded_history(tl)
    most = sum(s.duration for r in tl.requests for s in r.steps) + sum(history.values())
    return 100 * most * max(1, len(tl.instance.fair_share))


def shortfall_vars(
    model: Any, tl: Timeline, steps: list[list[StepVars]], fixed: Minutes | None = None
) -> list[Shortfall]:
    """Soft: one variable per fair-share target, at least 100 × its shortfall. ``fixed``:
    minutes booked outside the model (a neighbourhood's kept bookings)."""
    constant: Minutes = defaultdict(int)
    for source in (rounded_history(tl), fixed or {}):
        for key, m in source.items():
            constant[key] += m
    constant_by_type: dict[str, int] = defaultdict(int)
    for (_, kind), m in constant.items():
        constant_by_type[kind] += m
    # Booked minutes per type, and per (institution, type), as linear expressions.
    total: dict[str, list[Any]] = defaultdict(list)
    own: dict[tuple[str, str], list[Any]] = defaultdict(list)
    most_booked: dict[str, int] = defaultdict(int)
    for r, vars_ in enumerate(steps):
        who = tl.requests[r].institution
        for sv in vars_:
            kinds = set()
            for o in sv.options:
                kind = tl.instrument_type[o.instrument]
                term = sv.step.duration * o.literal
                total[kind].append(term)
                own[(who, kind)].append(term)
                kinds.add(kind)
            for kind in kinds:
                most_booked[kind] += sv.step.duration
    out = []
    for f in tl.instance.fair_share:
        kind, who = f.instrument_type, f.institution
        percent = round(f.target * 100)
        mine, everyone = constant.get((who, kind), 0), constant_by_type[kind]
        most = max(0, percent * (everyone + most_booked[kind]) - 100 * mine)
        var = model.new_int_var(0, most, f"shortfall[{who}][{kind}]")
        model.add(
            var >= percent * (everyone + sum(total[kind])) - 100 * (mine + sum(own[(who, kind)]))
        )
        out.append(Shortfall(var, most, who, kind, percent, mine, everyone))
    return out


def hint(model: Any, tl: Timeline, shortfalls: list[Shortfall], placed: list[Placed]) -> None:
    """Hint each shortfall at its value in the schedule ``placed`` (of the model's own
    requests), so the hint is complete."""
    if not shortfalls:
        return
    booked = booked_minutes(tl, placed)
    for s in shortfalls:
        model.add_hint(s.var, s.value(booked))
