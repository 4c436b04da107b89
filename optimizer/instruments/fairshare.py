"""Fair share in the CP-SAT model: one shortfall variable per target (contract 6.8).

In hundredths of a minute, so that it is whole: with a target of p percent, an institution's
decayed minutes D_i and the type's total D,

    100 · shortfall = max(0, p · D − 100 · D_i),

where D and D_i are the booked minutes (sums of the option literals times durations) plus
the rounded history, a constant. The model maximises weight less the penalty on these; the
verifier recomputes the shortfalls from the plan on its own
(:mod:`optimizer.instruments.costs`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from optimizer.instruments.timeline import Placed, Timeline
from optimizer.instruments.variables import StepVars


@dataclass(frozen=True)
class Shortfall:
    var: Any
    """100 × the target's shortfall in minutes, an integer variable ≥ 0."""
    most: int
    """Its upper bound: the most it can be, in hundredths of a minute."""
    institution: str
    instrument_type: str
    percent: int
    history_own: int
    history_all: int

    def value(self, booked: dict[tuple[str, str], int], booked_all: dict[str, int]) -> int:
        """100 × the shortfall of a plan with these booked minutes."""
        kind = self.instrument_type
        everyone = self.history_all + booked_all.get(kind, 0)
        mine = self.history_own + booked.get((self.institution, kind), 0)
        return max(0, self.percent * everyone - 100 * mine)


def rounded_history(tl: Timeline) -> dict[tuple[str, str], int]:
    """(institution, type) -> its decayed earlier minutes, rounded halves up."""
    instance = tl.instance
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for u in instance.usage_history:
        sums[(u.institution, u.instrument_type)] += u.minutes * 0.5 ** (
            u.weeks_ago / instance.history_half_life_weeks
        )
    return {key: math.floor(v + 0.5) for key, v in sums.items()}


def shortfall_vars(model: Any, tl: Timeline, steps: list[list[StepVars]]) -> list[Shortfall]:
    """Soft: one variable per fair-share target, at least 100 × its shortfall."""
    history = rounded_history(tl)
    by_type_history: dict[str, int] = defaultdict(int)
    for (_, kind), m in history.items():
        by_type_history[kind] += m
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
        mine = history.get((who, kind), 0)
        everyone = by_type_history[kind]
        most = max(0, percent * (everyone + most_booked[kind]) - 100 * mine)
        var = model.new_int_var(0, most, f"shortfall[{who}][{kind}]")
        model.add(
            var >= percent * (everyone + sum(total[kind])) - 100 * (mine + sum(own[(who, kind)]))
        )
        out.append(Shortfall(var, most, who, kind, percent, mine, everyone))
    return out


def hint(model: Any, tl: Timeline, shortfalls: list[Shortfall], placed: list[Placed]) -> None:
    """Hint each shortfall at its value in the schedule ``placed``, so the hint is complete."""
    if not shortfalls:
        return
    booked: dict[tuple[str, str], int] = defaultdict(int)
    booked_all: dict[str, int] = defaultdict(int)
    for p in placed:
        kind = tl.instrument_type[p.instrument]
        booked[(tl.requests[p.request].institution, kind)] += p.end - p.start
        booked_all[kind] += p.end - p.start
    for s in shortfalls:
        model.add_hint(s.var, s.value(booked, booked_all))
