"""The CP-SAT formulation of an instruments week, over integer minutes from the horizon start.

One optional interval per (step, eligible instrument) and per (attended part of a step,
qualified operator); no-overlap per instrument (each booking carries its instrument's
changeover as a tail, except where the same request's next step follows:
:meth:`ScheduleModel._shared_instruments`) and per operator, a cumulative constraint per
parallel instrument (count, cores, gpus; contract 6.7); allowed start domains encode
availability minus maintenance, release and deadline; travel separates consecutive steps by
the sites they land on (unless the later step does not move the sample). Redundant rows
strengthen its LP: cliques of bookings that must overlap, the capacity rows of
:mod:`optimizer.instruments.capacity`, an order on identical requests
(:mod:`optimizer.instruments.symmetry`). It only builds and reads models: the warm start,
neighbourhoods and time are :mod:`~optimizer.instruments.model`'s and
:mod:`~optimizer.instruments.lns`'s to decide.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from optimizer.core.runner import OutOfTime
from optimizer.core.scaling import IntegerScale, integer_scale
from optimizer.instruments import capacity, cuts, fairshare, symmetry
from optimizer.instruments.replan import Replan
from optimizer.instruments.timeline import (
    Placed,
    StepData,
    Timeline,
    merge,
    request_windows,
    staffed_starts,
    step_options,
)
from optimizer.instruments.variables import Option, StepVars


def weight_scaling(weights: list[float], multiplier: int = 1) -> tuple[IntegerScale, float]:
    """The integer scale of the weights, and the most its rounding can move a weighted sum
    (each weight counted at most ``multiplier`` times in one sum: minutes of tardiness)."""
    scaling = integer_scale(weights, multiplier=multiplier)
    return scaling, scaling.rounding_error(weights)


class ScheduleModel:
    """The CP-SAT model; with ``relax_must`` the must-serve and pin rules become assumptions."""

    def __init__(
        self,
        tl: Timeline,
        *,
        relax_must: bool = False,
        out_of_time: Callable[[], bool] | None = None,
        energy: bool = True,
        relaxation: capacity.Relaxation | None = None,
        lp: capacity.LpSolution | None = None,
        replan: Replan | None = None,
    ) -> None:
        """``relaxation`` and ``lp``, when given, are :mod:`capacity`'s rows over these
        requests' options with pins exact (as ``capacity.all_options`` makes them), and
        their LP: computed once by the caller rather than again here. With a relaxation
        and no LP, the caller's LP found nothing in the time it had, and none is tried.
        ``replan``: the previous plan, whose bookings kept are worth its penalty each."""
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        self.tl = tl
        self.model = cp_model.CpModel()
        self.relax_must = relax_must
        self.served: list[Any] = []
        self.steps: list[list[StepVars]] = []
        self.assumptions: dict[int, tuple[str, int, int | None]] = {}
        self.assumption_literals: dict[int, Any] = {}
        self.waivers: list[tuple[Any, Any, list[tuple[int, Any]]]] = []
        self.scale = 1
        self.rounding = 0.0
        self.makespan: Any = None
        self.tardiness: dict[int, Any] = {}
        self.instrument_intervals: list[list[Any]] = [[] for _ in tl.instrument_ids]
        # Parallel instruments (contract 6.7): (interval, cores, gpus) per option.
        self.parallel_intervals: list[list[tuple[Any, int, int]]] = [[] for _ in tl.instrument_ids]
        self._operator_intervals: list[list[Any]] = [[] for _ in tl.operator_ids]
        self.site_literals: dict[tuple[int, int], Any] = {}
        self.relaxation: capacity.Relaxation | None = relaxation
        self._lp = lp
        self._lp_tried = relaxation is not None
        self._starts_cache: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        self.lp_value: float | None = None
        self.replan = replan
        self.keep: list[tuple[Placed, Any]] = []
        self.objective_scale = 1
        self.shortfalls: list[fairshare.Shortfall] = []  # fair share (6.8), by set_objective
        for r in range(len(tl.requests)):
            if out_of_time is not None and r % 50 == 0 and out_of_time():
                raise OutOfTime(f"built the model of {r} of {len(tl.requests)} requests")
            self._request(r)
        self.identical = symmetry.identical_requests(tl)
        if replan is not None:
            self._keep_literals(replan)
        self._no_overlap()
        self._quotas()
        self._order_identical()
        if energy and tl.instance.objective == "max_weighted_served":
            if self.relaxation is None:
                options = [
                    [[(o.instrument, o.starts) for o in sv.options] for sv in vars_]
                    for vars_ in self.steps
                ]
                self.relaxation = capacity.relaxation(self.tl, options)
            cuts.energy_rows(self.model, self.relaxation, self.served)

    # ------------------------------------------------------------ variables

    def _request(self, r: int) -> None:
        """Hard: a request is served with all its steps, in order, or not at all."""
        tl, m = self.tl, self.model
        req = tl.requests[r]
        rid = req.id
        served = m.new_bool_var(f"served[{rid}]")
        self.served.append(served)
        if req.must:
            if self.relax_must:
                self.assumptions[served.index] = ("request", r, None)
                self.assumption_literals[served.index] = served
            else:
                m.add(served == 1)
        vars_ = [
            self._step(rid, served, step, lo, hi_end)
            for step, (lo, hi_end) in zip(req.steps, request_windows(req), strict=True)
        ]
        self.steps.append(vars_)
        self._shared_instruments(vars_)
        if any(not v.options for v in vars_):
            m.add(served == 0)
            return
        for a, b in itertools.pairwise(vars_):
            self._precedence(served, a, b)

    def _shared_instruments(self, vars_: list[StepVars]) -> None:
        """Hard: a changeover separates bookings of different requests, not steps of one.

        A step on an instrument with a changeover, where a later step of the same request may
        also go, books either [start, end + changeover) as usual, or only [start, end) when
        such a later step starts there before end + changeover. That later step then comes
        next on the instrument: any other request's booking in between would need a
        changeover on either side, so the later step could not start that early.
        """
        tl, m = self.tl, self.model
        for k, sv in enumerate(vars_):
            for o in sv.options:
                if not o.shared:
                    continue
                d, c = sv.step.duration, tl.changeover[o.instrument]
                name = f"{tl.requests[sv.step.request].id}][s{sv.step.index}][{tl.instrument_ids[o.instrument]}"
                tail, close = m.new_bool_var(f"tail[{name}]"), m.new_bool_var(f"close[{name}]")
                m.add(tail + close == 1).only_enforce_if(o.literal)
                m.add(tail + close == 0).only_enforce_if(~o.literal)
                follow = []
                for later in vars_[k + 1 :]:
                    for lo in later.options:
                        if lo.instrument != o.instrument:
                            continue
                        z = m.new_bool_var(f"next[{name}][s{later.step.index}]")
                        m.add_implication(z, lo.literal)
                        m.add(later.start <= sv.start + d + c - 1).only_enforce_if(z)
                        follow.append((later.step.index, z))
                if follow:
                    m.add_bool_or([z for _, z in follow]).only_enforce_if(close)
                else:
                    m.add(close == 0)
                intervals = self.instrument_intervals[o.instrument]
                intervals.append(
                    m.new_optional_fixed_size_interval_var(sv.start, d + c, tail, f"on[{name}]")
                )
                intervals.append(
                    m.new_optional_fixed_size_interval_var(sv.start, d, close, f"close[{name}]")
                )
                self.waivers.append((tail, close, follow))
                o.waiver = len(self.waivers) - 1

    def _step(self, rid: str, served: Any, step: StepData, lo: int, hi_end: int) -> StepVars:
        """Hard: one eligible instrument, inside a free segment, with a qualified operator."""
        tl, m = self.tl, self.model
        name = f"{rid}][s{step.index}"
        d = step.duration
        options = step_options(
            tl, step, lo, hi_end, exact_pins=not self.relax_must, cache=self._starts_cache
        )
        if not options:
            return StepVars(step, m.new_constant(max(0, lo)))
        union = merge([(a, b + 1) for _, st in options for a, b in st])
        domain = self.cp_model.Domain.from_intervals([[a, b - 1] for a, b in union])
        start = m.new_int_var_from_domain(domain, f"start[{name}]")
        sv = StepVars(step, start)
        for i, starts in options:
            iid = tl.instrument_ids[i]
            lit = served if len(options) == 1 else m.new_bool_var(f"book[{name}][{iid}]")
            if starts != [(a, b - 1) for a, b in union]:
                dom = self.cp_model.Domain.from_intervals([list(x) for x in starts])
                m.add_linear_expression_in_domain(start, dom).only_enforce_if(lit)
            later = {
                j for s in tl.requests[step.request].steps[step.index + 1 :] for j in s.instruments
            }
            shared = tl.changeover[i] > 0 and i in later
            if tl.parallel(i):  # side by side, within capacity (no changeover: 6.7)
                interval = m.new_optional_fixed_size_interval_var(
                    start, d, lit, f"on[{name}][{iid}]"
                )
                self.parallel_intervals[i].append((interval, *tl.demand(step, i)))
            elif not shared:  # else its interval waits for the later steps (waivers)
                size = d + tl.changeover[i]
                self.instrument_intervals[i].append(
                    m.new_optional_fixed_size_interval_var(start, size, lit, f"on[{name}][{iid}]")
                )
            sv.options.append(Option(i, lit, starts, shared))
        if len(options) > 1:
            m.add_exactly_one([o.literal for o in sv.options] + [~served])
        if step.pin is not None:
            pin_i, pin_s = step.pin
            if self.relax_must:
                pin = m.new_bool_var(f"pin[{name}]")
                self.assumptions[pin.index] = ("pin", step.request, step.index)
                self.assumption_literals[pin.index] = pin
                # A pin binds only a served request (contract 6.2 rule 7).
                hit = [o.literal for o in sv.options if o.instrument == pin_i]
                if hit:
                    m.add(start == pin_s).only_enforce_if([pin, served])
                    m.add_bool_or([~pin, ~served, hit[0]])
                else:
                    m.add_bool_or([~pin, ~served])
        if step.operator_required:
            self._operators(sv, served, name)
            if step.pin_operator is not None and step.pin_operator in sv.operators:
                # Hard: a frozen session keeps its operator (re-planning).
                m.add_implication(served, sv.operators[step.pin_operator])
        return sv

    def _operators(self, sv: StepVars, served: Any, name: str) -> None:
        """Hard: a qualified operator, available for each attended part of the step (the
        whole step unless contract 6.7 says otherwise), one part at a time."""
        tl, m = self.tl, self.model
        d = sv.step.duration
        parts = sv.step.attended
        by_operator: dict[int, list[Any]] = {}
        for opt in sv.options:
            for o in tl.operators_for(opt.instrument):
                by_operator.setdefault(o, []).append(opt.literal)
        lits = []
        for o, instrument_lits in by_operator.items():
            lit = m.new_bool_var(f"staff[{name}][{tl.operator_ids[o]}]")
            ranges = staffed_starts(tl.operator_free[o], parts, d, 0, tl.horizon)
            dom = self.cp_model.Domain.from_intervals([list(x) for x in ranges])
            if ranges:
                m.add_linear_expression_in_domain(sv.start, dom).only_enforce_if(lit)
            else:
                m.add(lit == 0)
            m.add_bool_or(instrument_lits).only_enforce_if(lit)
            for a, b in parts:
                self._operator_intervals[o].append(
                    m.new_optional_fixed_size_interval_var(
                        sv.start + a, b - a, lit, f"staff[{name}][{tl.operator_ids[o]}][{a}]"
                    )
                )
            sv.operators[o] = lit
            lits.append(lit)
        m.add_exactly_one([*lits, ~served])

    def _precedence(self, served: Any, a: StepVars, b: StepVars) -> None:
        """Hard: step k+1 starts after step k ends plus travel between their sites."""
        tl, m = self.tl, self.model
        d = a.step.duration
        site = tl.instrument_site
        sites_a = {site[o.instrument] for o in a.options}
        sites_b = {site[o.instrument] for o in b.options}
        moves = b.step.moves_sample  # else no travel is owed (contract 6.7)
        least = min(tl.travel[x][y] if x != y and moves else 0 for x in sites_a for y in sites_b)
        m.add(b.start >= a.start + d + least).only_enforce_if(served)
        if not moves:
            return

        def at_site(sv: StepVars, sites: set[int], x: int) -> Any:
            if len(sites) == 1:
                return served
            key = (id(sv), x)
            if key not in self.site_literals:
                lit = m.new_bool_var(f"site[{sv.step.request}][s{sv.step.index}][{x}]")
                m.add(sum(o.literal for o in sv.options if site[o.instrument] == x) == lit)
                self.site_literals[key] = lit
            return self.site_literals[key]

        for x in sites_a:
            for y in sites_b:
                t = tl.travel[x][y] if x != y else 0
                if t > least:
                    m.add(b.start >= a.start + d + t).only_enforce_if(
                        [at_site(a, sites_a, x), at_site(b, sites_b, y)]
                    )

    def _keep_literals(self, replan: Replan) -> None:
        """Soft: a literal per previous booking that can still be kept, true only when its
        step runs on that instrument at that start."""
        m = self.model
        for slot in replan.slots:
            sv = self.steps[slot.request][slot.step]
            option = next((o for o in sv.options if o.instrument == slot.instrument), None)
            if option is None or not any(a <= slot.start <= b for a, b in option.starts):
                continue
            name = f"{self.tl.requests[slot.request].id}][s{slot.step}"
            lit = m.new_bool_var(f"keep[{name}][{self.tl.instrument_ids[slot.instrument]}]")
            m.add_implication(lit, option.literal)
            m.add(sv.start == slot.start).only_enforce_if(lit)
            self.keep.append((slot, lit))

    # ------------------------------------------------------------ resources

    def _no_overlap(self) -> None:
        """Hard: bookings on one instrument, and attended parts of one operator, never
        overlap; a parallel instrument holds bookings up to its capacity, cores and gpus."""
        for intervals in self.instrument_intervals:
            if len(intervals) > 1:
                self.model.add_no_overlap(intervals)
        for intervals in self._operator_intervals:
            if len(intervals) > 1:
                self.model.add_no_overlap(intervals)
        for i, booked in enumerate(self.parallel_intervals):
            if booked:
                self._cumulative(i, booked)
        cuts.mandatory_cliques(self.model, self.tl, self.steps)
        cuts.pooled_cliques(self.model, self.tl, self.steps, self.served)

    def _cumulative(self, i: int, booked: list[tuple[Any, int, int]]) -> None:
        """Hard: on a parallel instrument, at every moment at most ``capacity`` bookings,
        and their cores and gpus within the totals (bookings fixed around a neighbourhood
        included)."""
        tl, m = self.tl, self.model
        fixed = [
            (m.new_fixed_size_interval_var(s, e - s, f"fixed[{tl.instrument_ids[i]}][{s}]"), c, g)
            for s, e, c, g in tl.fixed_load[i]
        ]
        rows = booked + fixed
        if len(rows) > tl.capacity[i]:
            m.add_cumulative([x for x, _, _ in rows], [1] * len(rows), tl.capacity[i])
        for total, k in ((tl.cores[i], 1), (tl.gpus[i], 2)):
            if total is not None and sum(row[k] for row in rows) > total:
                m.add_cumulative([x for x, *_ in rows], [row[k] for row in rows], total)

    def _order_identical(self) -> None:
        """Redundant: of identical requests, the earlier in list order is served and starts
        first (:func:`~optimizer.instruments.symmetry.order_identical`)."""
        first = [vars_[0].start if vars_ and vars_[0].options else None for vars_ in self.steps]
        symmetry.order_identical(self.model, self.identical, self.served, first)

    def _quotas(self) -> None:
        """Hard: an institution's weighted booked minutes stay within each quota and budget."""
        tl = self.tl
        terms: dict[str, list[Any]] = {}
        caps: dict[str, int] = {}
        for r, vars_ in enumerate(self.steps):
            limits = tl.limits_for(tl.requests[r].institution)
            for sv in vars_:
                for o in sv.options:
                    for limit in limits:
                        units = limit.units(o.instrument, sv.step.duration)
                        if units:
                            terms.setdefault(limit.name, []).append(units * o.literal)
                            caps[limit.name] = limit.cap
        for name, t in terms.items():
            self.model.add(sum(t) <= caps[name])

    def lp_bound(self) -> float | None:
        """Upper bound on Σ weight·served from the energy and quota rows alone (an LP)."""
        if self._lp is not None:
            return self._lp.bound
        if self.relaxation is None or self._lp_tried:
            return None
        return capacity.lp_bound(self.tl, self.relaxation)

    # ------------------------------------------------------------ objectives

    def set_objective(self, upper_makespan: int | None = None) -> None:
        tl, m = self.tl, self.model
        objective = tl.instance.objective
        weights = [r.weight for r in tl.requests]
        minutes = tl.horizon if objective == "min_weighted_tardiness" else 1
        scaling, self.rounding = weight_scaling(weights, minutes)
        self.scale = scaling.scale
        # Re-planning: each kept booking is worth the penalty, on the weights' integer scale
        # (a makespan's minutes are its unit weight).
        bonus: Any = 0
        self.penalty_rounding = 0.0
        if self.replan is not None:
            penalty = self.replan.penalty
            units = weights if objective != "min_makespan" else [1.0]
            joint = integer_scale([*units, penalty], multiplier=max(minutes, len(self.keep)))
            self.scale = joint.scale
            self.rounding = joint.rounding_error(weights) * (
                1 if objective != "min_makespan" else 0
            )
            (scaled_penalty,) = joint.scaled([penalty]).tolist()
            self.penalty_rounding = len(self.keep) * abs(penalty - scaled_penalty / self.scale)
            bonus = sum(scaled_penalty * lit for _, lit in self.keep)
            scaling = joint
        shares, scaling = self._shares(weights, scaling)
        if shares is not None and self.replan is not None:
            (scaled_penalty,) = scaling.scaled([self.replan.penalty]).tolist()
            self.penalty_rounding = len(self.keep) * abs(
                self.replan.penalty - scaled_penalty / self.scale
            )
            bonus = sum(scaled_penalty * lit for _, lit in self.keep)
        self.objective_scale = (
            1 if objective == "min_makespan" and self.replan is None else self.scale
        )
        scaled: list[int] = scaling.scaled(weights).tolist()
        if objective == "max_weighted_served":
            total = sum(c * p for c, p in zip(scaled, self.served, strict=True))
            self.lp_value = self.lp_bound()
            if self.lp_value is not None and self.rounding == 0:
                # The LP bounds the integer objective too: tell CP-SAT, so it can stop there.
                m.add(total <= math.floor(self.lp_value * self.scale + 1e-9))
            m.maximize(total + bonus - (0 if shares is None else shares))
            return
        ends = []
        for vars_ in self.steps:
            if vars_ and vars_[-1].options:
                ends.append(vars_[-1].start + vars_[-1].step.duration)
            else:
                ends.append(None)
        if objective == "min_makespan":
            lower = max(
                (
                    tl.requests[r].release + sum(s.duration for s in tl.requests[r].steps)
                    for r in range(len(tl.requests))
                ),
                default=0,
            )
            upper = tl.horizon if upper_makespan is None else upper_makespan
            self.makespan = m.new_int_var(min(lower, upper), upper, "makespan")
            for end in ends:
                if end is not None:
                    m.add(self.makespan >= end)
            m.minimize(self.objective_scale * self.makespan - bonus)
            return
        total = []
        for r, end in enumerate(ends):
            req = tl.requests[r]
            if req.due is None or end is None:
                continue
            late = m.new_int_var(0, max(0, tl.horizon - req.due), f"late[{req.id}]")
            m.add(late >= end - req.due)
            self.tardiness[r] = late
            total.append(scaled[r] * late)
        m.minimize(sum(total) - bonus)

    def _shares(self, weights: list[float], scaling: IntegerScale) -> tuple[Any, IntegerScale]:
        """Soft (6.8): the fair-share penalty on every target's shortfall, on one integer
        scale with the weights (and a re-plan's change penalty); None without a penalty."""
        tl = self.tl
        self.share_rounding = 0.0
        per_unit = fairshare.penalty_per_unit(tl)  # the shortfalls count hundredths of a minute
        if not per_unit:
            return None, scaling
        shortfalls = self.shortfalls = fairshare.shortfall_vars(self.model, tl, self.steps)
        most = sum(s.most for s in shortfalls)
        extra = [] if self.replan is None else [self.replan.penalty]
        joint = integer_scale([*weights, per_unit, *extra], multiplier=max(1, most, len(self.keep)))
        self.scale = joint.scale
        self.rounding = joint.rounding_error(weights)
        (scaled_unit,) = joint.scaled([per_unit]).tolist()
        self.share_rounding = most * abs(per_unit - scaled_unit / self.scale)
        return scaled_unit * sum(s.var for s in shortfalls), joint

    def true_bound(self, scaled: float | None) -> float | None:
        """The solver's bound in the objective's own units, widened by any weight rounding."""
        if scaled is None:
            return None
        tl = self.tl
        objective = tl.instance.objective
        if self.replan is not None:
            return self._combined_bound(scaled)
        if objective == "min_makespan":
            return float(scaled)
        value = scaled / self.scale
        if objective == "max_weighted_served":
            return min(self._served_bounds(value + self.rounding + self.share_rounding))
        return max(0.0, value - self.rounding * self.tl.horizon)

    def _served_bounds(self, solver: float, bonus: float = 0.0) -> list[float]:
        """Bounds on Σ weight·served (plus ``bonus``, the most keeping can add): the
        solver's, all reachable weight, the capacity LP."""
        tl = self.tl
        reachable = sum(
            r.weight for r, vars_ in zip(tl.requests, self.steps, strict=True)
            if all(v.options for v in vars_)
        )  # fmt: skip
        bounds = [solver, reachable + bonus]
        if self.lp_value is not None:
            bounds.append(self.lp_value + bonus)
        return bounds

    def _combined_bound(self, scaled: float) -> float:
        """The solver's bound on the objective with the keep bonus, as a bound on the
        objective with the change cost (contract 3.8): the cost of changing every previous
        booking is the constant the bonus leaves out."""
        assert self.replan is not None
        objective = self.tl.instance.objective
        maximize = objective == "max_weighted_served"
        value = scaled / self.scale
        most = self.replan.penalty * len(self.keep)  # the most keeping can be worth
        if maximize:
            slack = self.rounding + self.penalty_rounding + self.share_rounding
            base_plus = min(self._served_bounds(value + slack, most))
            return base_plus - self.replan.penalty * self.replan.total
        slack = self.penalty_rounding + (
            self.rounding * self.tl.horizon if objective == "min_weighted_tardiness" else 0.0
        )
        base_minus = max(-most, value - slack)
        return base_minus + self.replan.penalty * self.replan.total

    # ------------------------------------------------------------ reading back

    def read(self, solver: Any) -> list[Placed]:
        out = []
        for r, vars_ in enumerate(self.steps):
            if not solver.boolean_value(self.served[r]):
                continue
            for sv in vars_:
                s = solver.value(sv.start)
                i = next(o.instrument for o in sv.options if solver.boolean_value(o.literal))
                op = next((o for o, lit in sv.operators.items() if solver.boolean_value(lit)), None)
                out.append(Placed(r, sv.step.index, i, op, s, s + sv.step.duration))
        return out
