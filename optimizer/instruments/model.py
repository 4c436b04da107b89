"""CP-SAT model of an instruments week, over integer minutes from the horizon start.

One optional interval per (step, eligible instrument) and per (step, qualified operator);
no-overlap per instrument (each booking carries its instrument's changeover as a tail,
except where the same request's next step follows: :meth:`ScheduleModel._shared_instruments`)
and per operator; allowed start domains encode availability minus maintenance, release and
deadline; travel separates consecutive steps by the sites they land on.

Performance structure, each measured with ``benchmarks/instruments.py``: the best of a few
greedy orders is a complete hint (first-come-first-served also caps the makespan horizon);
capacity rows per instrument type, instrument and operator pool over day windows
(:mod:`optimizer.instruments.capacity`: energy and whole-step packing) are added to the model
and solved as an LP of their own, whose optimum is a proven bound on weighted requests served
(CP-SAT's own bound on large weeks stays near the sum of all weights); subsolvers and probing
are tuned by problem shape (see :func:`_tuning`); identical requests are ordered (symmetry
breaking, :meth:`ScheduleModel._order_identical`). Above ``LARGE_INTERVALS`` flexible options (weeks of
about 1,000 requests and more) one CP-SAT run on the full model improves little (its LNS
presolves the whole model per neighbourhood), and at 3,000 requests the model takes longer to
build than a 10 s limit: no model of the whole week is built, the capacity rows give the bound
(the tighter of their LP and HiGHS's dual bound with requests whole), and
:mod:`optimizer.instruments.lns` searches small sub-models from the warm start.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optimizer.core.cpsat import cpsat_version, run_cpsat
from optimizer.core.envelope import Status
from optimizer.core.numbers import exact_sum
from optimizer.core.runner import Outcome, OutOfTime, SolveContext
from optimizer.core.scaling import IntegerScale, integer_scale
from optimizer.instruments import capacity, explain, rigid
from optimizer.instruments.greedy import GreedyResult, greedy
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.timeline import (
    Placed,
    StepData,
    Timeline,
    build_timeline,
    maximal_cliques,
    merge,
    request_windows,
    start_ranges,
    step_options,
    to_payload,
)

log = logging.getLogger(__name__)

SOLVERS = ("auto", "cp-sat", "greedy")
# Above this many (step, instrument) options with more than one start, neighbourhood search
# replaces one CP-SAT run. Rigid options do not count: 1,000 rigid requests on four
# instruments (4,000 options) were proven optimal in 7.5 s by one run, and reached a 27 %
# gap in 30 s by neighbourhood search under the capacity bound.
LARGE_INTERVALS = 3000
# Most of the remaining time the capacity LP may take (GLOP stops there, and gives no bound).
LP_SHARE = 0.2


def weight_scaling(weights: list[float], multiplier: int = 1) -> tuple[IntegerScale, float]:
    """The integer scale of the weights, and the most its rounding can move a weighted sum
    (each weight counted at most ``multiplier`` times in one sum: minutes of tardiness).

    The error is measured rather than read off ``IntegerScale.exact``, which counts a value
    as whole within 1e-9 of the scaled value: at 10**9 that passes full-precision weights
    such as 3.7168142711 as exact, and a bound without their error is no bound.
    """
    scaling = integer_scale(weights, multiplier=multiplier)
    return scaling, IntegerScale(scaling.scale, exact=False).rounding_error(weights)


@dataclass
class Option:
    """A step on one instrument: its literal and the starts it allows there."""

    instrument: int
    literal: Any
    starts: list[tuple[int, int]]
    # A later step of the same request may use this instrument too: then the changeover
    # after this step is owed only if another request's booking comes next (see _waivers).
    shared: bool = False
    waiver: int | None = None  # index into ScheduleModel._waivers when shared


@dataclass
class StepVars:
    step: StepData
    start: Any
    options: list[Option] = field(default_factory=list)
    operators: dict[int, Any] = field(default_factory=dict)


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
    ) -> None:
        """``relaxation`` and ``lp``, when given, are :mod:`capacity`'s rows over these
        requests' options with pins exact (as ``capacity.all_options`` makes them), and
        their LP: computed once by the caller rather than again here. With a relaxation
        and no LP, the caller's LP found nothing in the time it had, and none is tried."""
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        self.tl = tl
        self.model = cp_model.CpModel()
        self.relax_must = relax_must
        self.served: list[Any] = []
        self.steps: list[list[StepVars]] = []
        self.assumptions: dict[int, tuple[str, int, int | None]] = {}
        self.assumption_literals: dict[int, Any] = {}
        self._waivers: list[tuple[Any, Any, list[tuple[int, Any]]]] = []
        self.scale = 1
        self.rounding = 0.0
        self.makespan: Any = None
        self.tardiness: dict[int, Any] = {}
        self._instrument_intervals: list[list[Any]] = [[] for _ in tl.instrument_ids]
        self._operator_intervals: list[list[Any]] = [[] for _ in tl.operator_ids]
        self._site_literals: dict[tuple[int, int], Any] = {}
        self.relaxation: capacity.Relaxation | None = relaxation
        self._lp = lp
        self._lp_tried = relaxation is not None
        self._starts_cache: dict[tuple[int, int, int, int, bool], list[tuple[int, int]]] = {}
        self.lp_value: float | None = None
        for r in range(len(tl.requests)):
            if out_of_time is not None and r % 50 == 0 and out_of_time():
                raise OutOfTime(f"built the model of {r} of {len(tl.requests)} requests")
            self._request(r)
        self.identical = identical_requests(tl)
        self._no_overlap()
        self._quotas()
        self._order_identical()
        if energy and tl.instance.objective == "max_weighted_served":
            self._energy_cuts()

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
                intervals = self._instrument_intervals[o.instrument]
                intervals.append(
                    m.new_optional_fixed_size_interval_var(sv.start, d + c, tail, f"on[{name}]")
                )
                intervals.append(
                    m.new_optional_fixed_size_interval_var(sv.start, d, close, f"close[{name}]")
                )
                self._waivers.append((tail, close, follow))
                o.waiver = len(self._waivers) - 1

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
            if not shared:  # else its interval waits for the later steps (_waivers)
                size = d + tl.changeover[i]
                self._instrument_intervals[i].append(
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
                hit = [o.literal for o in sv.options if o.instrument == pin_i]
                if hit:
                    m.add(start == pin_s).only_enforce_if(pin)
                    m.add_implication(pin, hit[0])
                else:
                    m.add_bool_or([~pin])
        if step.operator_required:
            self._operators(sv, served, name)
        return sv

    def _operators(self, sv: StepVars, served: Any, name: str) -> None:
        """Hard: a qualified operator, available for the whole step, one step at a time."""
        tl, m = self.tl, self.model
        d = sv.step.duration
        by_operator: dict[int, list[Any]] = {}
        for opt in sv.options:
            for o in tl.operators_for(opt.instrument):
                by_operator.setdefault(o, []).append(opt.literal)
        lits = []
        for o, instrument_lits in by_operator.items():
            lit = m.new_bool_var(f"staff[{name}][{tl.operator_ids[o]}]")
            ranges = start_ranges(tl.operator_free[o], d, 0, tl.horizon)
            dom = self.cp_model.Domain.from_intervals([list(x) for x in ranges])
            if ranges:
                m.add_linear_expression_in_domain(sv.start, dom).only_enforce_if(lit)
            else:
                m.add(lit == 0)
            m.add_bool_or(instrument_lits).only_enforce_if(lit)
            self._operator_intervals[o].append(
                m.new_optional_fixed_size_interval_var(
                    sv.start, d, lit, f"staff[{name}][{tl.operator_ids[o]}]"
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
        least = min(tl.travel[x][y] if x != y else 0 for x in sites_a for y in sites_b)
        m.add(b.start >= a.start + d + least).only_enforce_if(served)

        def at_site(sv: StepVars, sites: set[int], x: int) -> Any:
            if len(sites) == 1:
                return served
            key = (id(sv), x)
            if key not in self._site_literals:
                lit = m.new_bool_var(f"site[{sv.step.request}][s{sv.step.index}][{x}]")
                m.add(sum(o.literal for o in sv.options if site[o.instrument] == x) == lit)
                self._site_literals[key] = lit
            return self._site_literals[key]

        for x in sites_a:
            for y in sites_b:
                t = tl.travel[x][y] if x != y else 0
                if t > least:
                    m.add(b.start >= a.start + d + t).only_enforce_if(
                        [at_site(a, sites_a, x), at_site(b, sites_b, y)]
                    )

    # ------------------------------------------------------------ resources

    def _no_overlap(self) -> None:
        """Hard: bookings on one instrument, and steps of one operator, never overlap."""
        for intervals in self._instrument_intervals:
            if len(intervals) > 1:
                self.model.add_no_overlap(intervals)
        for intervals in self._operator_intervals:
            if len(intervals) > 1:
                self.model.add_no_overlap(intervals)
        self._mandatory_cliques()

    def _mandatory_cliques(self) -> None:
        """Hard (redundant): bookings whose every placement covers one moment exclude each other.

        A booking that must start in [s_min, s_max] and lasts `size` always covers
        [s_max, s_min + size). Of the bookings on one instrument whose such parts share a
        moment, at most one happens. The no-overlap constraint already implies this, but
        CP-SAT's LP does not see it; with it, the LP of rigid requests (weighted interval
        scheduling) is the clique formulation of an interval graph, which is integral, so
        the optimum is proven at once instead of by search.
        """
        tl = self.tl
        parts: list[list[tuple[int, int, Any]]] = [[] for _ in tl.instrument_ids]
        for vars_ in self.steps:
            for sv in vars_:
                for o in sv.options:
                    if not o.starts:
                        continue
                    # A shared option may drop its changeover (_shared_instruments).
                    size = sv.step.duration + (0 if o.shared else tl.changeover[o.instrument])
                    first, last = o.starts[0][0], o.starts[-1][1]
                    if last < first + size:
                        parts[o.instrument].append((last, first + size, o.literal))
        for segments in parts:
            for clique in maximal_cliques([(a, b) for a, b, _ in segments]):
                if len(clique) > 1:
                    self.model.add_at_most_one([segments[j][2] for j in clique])
        self._pooled_cliques()

    def _pooled_cliques(self) -> None:
        """Redundant: bookings that must all cover one moment need as many instruments.

        The same cliques as :meth:`_mandatory_cliques`, over a pool of instruments: the
        steps that may only use instruments of the pool F and whose every placement covers
        one moment are served at most |F| at a time (each step counted by its request's
        served literal, with the pool's least changeover). Per instrument the cliques do
        not see that a step left off one instrument takes another; pooled, the LP of rigid
        requests on k instruments is an interval matrix with right-hand side k, which is
        integral, so the optimum is again proven at once (measured: 300 rigid requests on
        three instruments went from a 31 % gap after 60 s to proven in 2 s).
        """
        tl = self.tl
        # Per step with options: its instruments, first and last start, duration, whether
        # its changeover may be waived, and its request's served literal.
        steps = [
            (
                frozenset(o.instrument for o in sv.options),
                min(o.starts[0][0] for o in sv.options),
                max(o.starts[-1][1] for o in sv.options),
                sv.step.duration,
                any(o.shared for o in sv.options),
                self.served[r],
            )
            for r, vars_ in enumerate(self.steps)
            for sv in vars_
            if sv.options
        ]
        for pool in {instruments for instruments, *_ in steps}:
            if len(pool) < 2:
                continue
            tail = min(tl.changeover[i] for i in pool)
            segments: list[tuple[int, int, Any]] = []
            for instruments, first, last, duration, shared, served in steps:
                size = duration + (0 if shared else tail)
                if instruments <= pool and last < first + size:
                    segments.append((last, first + size, served))
            for clique in maximal_cliques([(a, b) for a, b, _ in segments]):
                if len(clique) > len(pool):
                    self.model.add(sum(segments[j][2] for j in clique) <= len(pool))

    def _order_identical(self) -> None:
        """Redundant: of identical requests, the earlier in list order is served and starts first.

        Identical requests (see :func:`identical_requests`) can swap their whole schedules, so
        every schedule has a copy, as good, where each served one's predecessor in the group
        is served too and starts no later. Without this, CP-SAT explores every labelling of
        the same schedule: on a batch of repeated runs it proves optima it could not before
        (``benchmarks/instruments.py``).
        """
        m = self.model
        for members in self.identical:
            for a, b in itertools.pairwise(members):
                m.add_implication(self.served[b], self.served[a])
                first_a, first_b = self.steps[a][0], self.steps[b][0]
                if first_a.options and first_b.options:
                    m.add(first_a.start <= first_b.start).only_enforce_if(self.served[b])

    def _quotas(self) -> None:
        """Hard: booked minutes per institution and instrument type stay within quota."""
        tl = self.tl
        terms: dict[tuple[str, str], list[Any]] = {}
        for r, vars_ in enumerate(self.steps):
            inst = tl.requests[r].institution
            for sv in vars_:
                for o in sv.options:
                    key = (inst, tl.instrument_type[o.instrument])
                    if key in tl.quotas:
                        terms.setdefault(key, []).append(sv.step.duration * o.literal)
        for key, t in terms.items():
            self.model.add(sum(t) <= tl.quotas[key])

    def _energy_cuts(self) -> None:
        """Redundant: the capacity rows of :mod:`optimizer.instruments.capacity` on served literals.

        Every schedule satisfies them (see :func:`~optimizer.instruments.rows.energy_rows`);
        they give CP-SAT's LP relaxation, and so its bound, their strength.
        """
        if self.relaxation is None:
            options = [
                [[(o.instrument, o.starts) for o in sv.options] for sv in vars_]
                for vars_ in self.steps
            ]
            self.relaxation = capacity.relaxation(self.tl, options)
        # The clique rows are already in the model, on option literals (_pooled_cliques).
        for row in self.relaxation.energy:
            self.model.add(
                sum(c * self.served[r] for r, c in row.need.items()) <= row.cap
            ).with_name(row.name)

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
        scaled: list[int] = scaling.scaled(weights).tolist()
        if objective == "max_weighted_served":
            total = sum(c * p for c, p in zip(scaled, self.served, strict=True))
            self.lp_value = self.lp_bound()
            if self.lp_value is not None and self.rounding == 0:
                # The LP bounds the integer objective too: tell CP-SAT, so it can stop there.
                m.add(total <= math.floor(self.lp_value * self.scale + 1e-9))
            m.maximize(total)
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
            m.minimize(self.makespan)
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
        m.minimize(sum(total))

    def true_bound(self, scaled: float | None) -> float | None:
        """The solver's bound in the objective's own units, widened by any weight rounding."""
        if scaled is None:
            return None
        tl = self.tl
        objective = tl.instance.objective
        if objective == "min_makespan":
            return float(scaled)
        value = scaled / self.scale
        if objective == "max_weighted_served":
            reachable = sum(
                r.weight for r, vars_ in zip(tl.requests, self.steps, strict=True)
                if all(v.options for v in vars_)
            )  # fmt: skip
            bounds = [value + self.rounding, reachable]
            if self.lp_value is not None:
                bounds.append(self.lp_value)
            return min(bounds)
        return max(0.0, value - self.rounding * self.tl.horizon)

    # ------------------------------------------------------------ hints and reading back

    def hint(self, placed: list[Placed], served: list[int]) -> None:
        m = self.model
        placed, served = self._canonical(placed, served)
        at = {(p.request, p.step): p for p in placed}
        served_set = set(served)
        for r, vars_ in enumerate(self.steps):
            on = r in served_set
            m.add_hint(self.served[r], on)
            for sv in vars_:
                p = at.get((r, sv.step.index)) if on else None
                if p is not None:
                    m.add_hint(sv.start, p.start)
                elif sv.options:  # a complete hint is one CP-SAT can take as is
                    m.add_hint(sv.start, sv.options[0].starts[0][0])
                for o in sv.options:
                    if o.literal is not self.served[r]:
                        m.add_hint(o.literal, p is not None and p.instrument == o.instrument)
                    if o.waiver is not None:
                        self._hint_waiver(o, p, at, r, sv.step.duration)
                for op, lit in sv.operators.items():
                    if lit is not self.served[r]:
                        m.add_hint(lit, p is not None and p.operator == op)
                for x in {self.tl.instrument_site[o.instrument] for o in sv.options}:
                    lit = self._site_literals.get((id(sv), x))
                    if lit is not None:
                        here = p is not None and self.tl.instrument_site[p.instrument] == x
                        m.add_hint(lit, here)
        ends: dict[int, int] = {}
        for p in placed:
            ends[p.request] = max(ends.get(p.request, 0), p.end)
        if self.makespan is not None and ends:
            m.add_hint(self.makespan, max(ends.values()))
        for r, late in self.tardiness.items():
            due = self.tl.requests[r].due or 0
            m.add_hint(late, max(0, ends.get(r, 0) - due))

    def _canonical(self, placed: list[Placed], served: list[int]) -> tuple[list[Placed], list[int]]:
        """The same schedule with identical requests relabelled as :meth:`_order_identical`
        requires, so that a hint from the greedy stays a schedule CP-SAT can take as is."""
        return canonical(placed, served, self.identical)

    def _hint_waiver(
        self, o: Option, p: Placed | None, at: dict[tuple[int, int], Placed], r: int, d: int
    ) -> None:
        assert o.waiver is not None
        tail, close, follow = self._waivers[o.waiver]
        here = p is not None and p.instrument == o.instrument
        near = []
        if here:
            assert p is not None
            limit = p.start + d + self.tl.changeover[o.instrument]
            near = [
                z
                for k, z in follow
                if (q := at.get((r, k))) is not None
                and q.instrument == o.instrument
                and q.start < limit
            ]
        self.model.add_hint(close, bool(near))
        self.model.add_hint(tail, here and not near)
        for _, z in follow:
            self.model.add_hint(z, any(z is y for y in near[:1]))

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


def identical_requests(tl: Timeline) -> list[list[int]]:
    """Groups (in list order) of two or more requests that differ in nothing but their id.

    Everything the model reads of a request must agree: institution (quotas), weight,
    release, deadline, due, whether it must be served, and per step the duration, the
    eligible instruments and whether it needs an operator. Pinned requests are left out.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for r, req in enumerate(tl.requests):
        if any(s.pin is not None for s in req.steps):
            continue
        steps = tuple((s.duration, tuple(s.instruments), s.operator_required) for s in req.steps)
        key = (req.institution, req.weight, req.release, req.deadline, req.due, req.must, steps)
        groups.setdefault(key, []).append(r)
    return [members for members in groups.values() if len(members) > 1]


def canonical(
    placed: list[Placed], served: list[int], identical: list[list[int]]
) -> tuple[list[Placed], list[int]]:
    """The same schedule with each group of identical requests relabelled so that the
    earlier ones in list order are served, and start, first."""
    if not identical:
        return placed, served
    on = set(served)
    first: dict[int, int] = {}
    for p in placed:
        if p.step == 0:
            first[p.request] = p.start
    relabel: dict[int, int] = {}
    for members in identical:
        ranked = sorted(members, key=lambda r: (r not in on, first.get(r, 0), r))
        relabel.update(zip(ranked, members, strict=True))
    placed = [dataclasses.replace(p, request=relabel.get(p.request, p.request)) for p in placed]
    return placed, [relabel.get(r, r) for r in served]


# ---------------------------------------------------------------- solve


def build_and_solve(instance: InstrumentsInstance, context: SolveContext) -> Outcome:
    tl = build_timeline(instance)
    conflicts = explain.static_conflicts(tl)
    if conflicts:
        return Outcome(Status.INFEASIBLE, "presolve", explanations=conflicts)
    base = greedy(tl)
    context.report(phase="greedy", solutions=0 if base.failed_must else 1)
    if context.options.solver == "greedy":
        return _greedy_outcome(tl, base, context)
    return _solve_cpsat(tl, base, context)


def _finish(
    tl: Timeline,
    status: Status,
    solver: str,
    placed: list[Placed],
    context: SolveContext,
    *,
    bound: float | None = None,
    version: str | None = None,
    extra_kpis: dict[str, Any] | None = None,
) -> Outcome:
    payload = to_payload(tl, placed)
    explanations = explain.unscheduled(tl, placed) if context.options.explain else []
    kpis = explain.kpis(tl, placed)
    kpis.update(extra_kpis or {})
    return Outcome(
        status,
        solver,
        solution=payload,
        bound=bound,
        solver_version=version,
        explanations=explanations,
        kpis=kpis,
    )


def _greedy_outcome(tl: Timeline, base: GreedyResult, context: SolveContext) -> Outcome:
    if base.failed_must:
        return Outcome(
            Status.NO_SOLUTION,
            "greedy",
            explanations=explain.greedy_failures(tl, base.failed_must),
        )
    return _finish(tl, Status.FEASIBLE, "greedy", base.bookings, context)


def _solve_cpsat(tl: Timeline, base: GreedyResult, context: SolveContext) -> Outcome:
    greedy_ok = not base.failed_must
    upper = None
    if greedy_ok and tl.instance.objective == "min_makespan" and base.bookings:
        upper = max(p.end for p in base.bookings)
    start = base
    extra: dict[str, Any] = {"greedy_objective": _greedy_value(tl, base) if greedy_ok else None}
    rel, lp = None, None
    if greedy_ok and tl.instance.objective == "max_weighted_served":
        options = capacity.all_options(tl)
        rel = capacity.relaxation(tl, options)
        # The LP bounds and guides; it may not take the time the search needs.
        lp = capacity.lp_solution(tl, rel, time_limit=LP_SHARE * context.remaining())
        weights = [r.weight for r in tl.requests]
        scaling, rounding = weight_scaling(weights)
        scale = scaling.scale
        guide, limit, integral = [], math.inf, False
        if lp is not None:
            limit = _settled(lp.bound, scale, rounding)
            guide = [_lp_order(tl, options, lp)]
            integral = all(min(x, 1 - x) < 1e-6 for x in lp.served)
        # An integral LP's order is tried first (placed by start it is often the optimum);
        # otherwise after weight per minute, which did better on the benchmark weeks
        # (1,000 requests, seed 3: 1630 against 1598).
        start = _warm_start(tl, base, context, guide, limit, guides_first=integral)
        start_value = _greedy_value(tl, start)
        # solver "cp-sat" asks for the CP-SAT model; "auto" takes these shorter ways first.
        if context.options.solver == "auto" and start_value >= limit - 1e-9:
            # The capacity LP already proves the warm start optimal (rigid requests: the
            # clique rows are integral), so no CP-SAT model is built. Measured: 10,000
            # rigid requests on two instruments, 24 s with CP-SAT, 4 s without.
            extra["note"] = "the warm start meets the capacity LP's bound"
            placed, _ = canonical(start.bookings, start.served, identical_requests(tl))
            return _finish(
                tl, Status.OPTIMAL, "glop", placed, context,
                bound=limit, version=cpsat_version(), extra_kpis=extra,
            )  # fmt: skip
        if context.options.solver == "auto" and rigid.applies(tl, options):
            # HiGHS reports nothing while it runs: a client watching sees the warm start.
            context.report(
                objective=start_value,
                bound=limit if math.isfinite(limit) else None,
                solutions=1,
                phase="highs",
            )
            outcome = _solve_rigid(tl, options, start, context, extra, limit, scale, rounding)
            if outcome is not None:
                return outcome
        if capacity.flexible_option_count(options) > LARGE_INTERVALS:
            return _solve_large(tl, rel, lp, start, context, extra, scaling, rounding)
    try:
        # Large weeks can take longer to build than the limit allows: then the warm start
        # is the answer, rather than a run far past the limit.
        sm = ScheduleModel(
            tl,
            out_of_time=lambda: context.remaining() < 1.0 and greedy_ok,
            relaxation=rel,
            lp=lp,
        )
    except OutOfTime:
        extra["note"] = "the time limit ran out while building the model; best greedy order"
        return _finish(tl, Status.FEASIBLE, "greedy", start.bookings, context, extra_kpis=extra)
    sm.set_objective(upper_makespan=upper)
    if greedy_ok:
        sm.hint(start.bookings, start.served)
        if context.remaining() < 1.0:  # CP-SAT could not even load the model in time
            extra["note"] = "no time left for CP-SAT after building the model; best greedy order"
            bound = sm.lp_value
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, extra_kpis=extra,
            )  # fmt: skip
    makespan = tl.instance.objective == "min_makespan"
    run = run_cpsat(
        sm.model,
        context,
        scale=1.0 if makespan else sm.scale,
        tune=_tuning(sm, makespan),
    )
    version = cpsat_version()
    if run.status == Status.INFEASIBLE:
        return Outcome(
            Status.INFEASIBLE,
            "cp-sat",
            solver_version=version,
            explanations=explain.infeasible_core(tl, context),
        )
    if not run.has_solution:
        if greedy_ok:  # the warm start still stands: report it, with the LP bound if any
            bound = sm.lp_value
            extra["note"] = "CP-SAT found no schedule in time; this is the best greedy order"
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, version=version, extra_kpis=extra,
            )  # fmt: skip
        return Outcome(run.status, "cp-sat", solver_version=version)
    placed = sm.read(run.solver)
    status, bound = run.status, sm.true_bound(run.bound_scaled)
    return _finish(
        tl, status, "cp-sat", placed, context, bound=bound, version=version, extra_kpis=extra
    )


def _solve_rigid(
    tl: Timeline,
    options: capacity.Options,
    start: GreedyResult,
    context: SolveContext,
    extra: dict[str, Any],
    limit: float,
    scale: int,
    rounding: float,
) -> Outcome | None:
    """Rigid requests (no choice of start): HiGHS on the clique MIP of :mod:`rigid`.

    If HiGHS ends without a better schedule, the warm start stands, with the best bound.
    None when the MIP does not settle anything (the CP-SAT model then takes over).
    """
    # Leave time for explanations and verification (about a second at 10,000 requests).
    result = rigid.solve(
        tl, options, context, scale=scale, time_limit=max(0.5, context.remaining() - 1.0)
    )
    if result is None:
        return None
    placed, value, proven = start.bookings, _greedy_value(tl, start), False
    if result.placed is not None:  # HiGHS may end with no schedule, or a worse one
        found = exact_sum(tl.requests[r].weight for r in {p.request for p in result.placed})
        if found >= value:
            placed, value = result.placed, found
            proven = result.status == Status.OPTIMAL
    if placed is start.bookings:
        extra["note"] = "HiGHS found no better schedule in time; the best greedy order"
    bounds = [limit] if math.isfinite(limit) else []
    if result.bound is not None:
        mip = _settled(result.bound + rounding, scale, rounding)
        if mip < value - 1e-6 * max(1.0, abs(value)):
            # Below a schedule in hand: the MIP missed a rule (it must not); claim nothing.
            log.warning("rigid MIP bound %s is below a known schedule worth %s", mip, value)
            proven = False
        else:
            bounds.append(mip)
    bound = min(bounds) if bounds else None
    if proven or (bound is not None and value >= bound - 1e-9):
        status, bound = Status.OPTIMAL, max(bound or value, value)  # the optimum is in hand
    else:
        status = Status.FEASIBLE
    placed, _ = canonical(placed, sorted({p.request for p in placed}), identical_requests(tl))
    return _finish(
        tl, status, "highs", placed, context,
        bound=bound, version=rigid.version(), extra_kpis=extra,
    )  # fmt: skip


def _solve_large(
    tl: Timeline,
    rel: capacity.Relaxation,
    lp: capacity.LpSolution | None,
    start: GreedyResult,
    context: SolveContext,
    extra: dict[str, Any],
    scaling: IntegerScale,
    rounding: float,
) -> Outcome:
    """Large weeks: neighbourhood search from the warm start, bounded by the capacity rows.

    No CP-SAT model of the whole week is built: it took longer than 10 s at 3,000 requests,
    and only its bound was used. The bound comes first, so any answer carries it. Where
    there are single staffed sessions, CP-SAT's neighbourhoods alternate with passes of
    :mod:`optimizer.instruments.repack` (HiGHS re-packs a day's sessions) after the first
    ``REPACK_AFTER`` of the time.
    """
    from optimizer.instruments import repack
    from optimizer.instruments.lns import improve

    weights = [r.weight for r in tl.requests]
    scale = scaling.scale
    value = _greedy_value(tl, start)
    limit = _large_bound(tl, rel, lp, context, scale, rounding)
    context.report(objective=value, bound=limit, solutions=1, phase="cp-sat")
    scaled: list[int] = scaling.scaled(weights).tolist()

    def search(placed: list[Placed], served: list[int], until: float) -> tuple[Any, Any, int]:
        """CP-SAT neighbourhoods until ``until`` seconds are left."""
        return improve(
            tl, placed, served, context,
            time_left=lambda: context.remaining() - until,
            scaling=scaling,
            bound=limit,
            on_improve=lambda v: context.report(
                objective=v, bound=limit, solutions=1, phase="cp-sat"
            ),
            promise=None if lp is None else lp.served,
        )  # fmt: skip

    if not repack.applies(tl):
        placed, served, tries = search(start.bookings, start.served, 0.0)
    else:
        total = context.remaining()
        placed, served, tries = search(start.bookings, start.served, (1 - REPACK_AFTER) * total)
        while context.remaining() > 2.0 and not context.stop.is_set():
            if limit is not None and sum(scaled[r] for r in served) >= limit * scale - 1e-9:
                break
            placed, served_set = repack.repack_pass(
                tl, placed, set(served), weight=scaled, time_left=context.remaining,
                threads=context.threads, seed=context.options.seed,
            )  # fmt: skip
            served = sorted(served_set)
            context.report(
                objective=float(exact_sum(weights[r] for r in served)),
                bound=limit, solutions=1, phase="repack",
            )  # fmt: skip
            chunk = min(REPACK_SEARCH_SECONDS, context.remaining())
            placed, served, more = search(placed, served, context.remaining() - chunk)
            tries += more
    extra["neighbourhoods"] = tries
    value = float(sum(tl.requests[r].weight for r in served))
    status = Status.FEASIBLE
    if limit is not None and value >= limit - 1e-6:
        status = Status.OPTIMAL
    return _finish(
        tl, status, "cp-sat", placed, context,
        bound=limit, version=cpsat_version(), extra_kpis=extra,
    )  # fmt: skip


# Large weeks: the share of the time CP-SAT's neighbourhoods have before re-packing starts,
# and the seconds of neighbourhoods between re-packing passes. Measured on the
# 1,000-request weeks at 60 s (benchmarks/instruments.py), with neighbourhoods ranking
# waiting requests by the LP: seed 3 1706-1707 starting at 45 % of the time, 1710-1711 at
# 70 %, 1694-1701 never; seed 2 1723-1725 at 45 %, 1718-1731 at 70 %. (Before that ranking,
# re-packing first ended lower, seed 3 1695-1705 against 1703-1705.)
REPACK_AFTER = 0.7
REPACK_SEARCH_SECONDS = 8.0
# Share of the time limit the large-week bound may take for HiGHS (the rest improves the
# schedule), and the most seconds. See benchmarks/instruments.py for the measurements.
MIP_BOUND_SHARE = 0.1
MIP_BOUND_SECONDS = 10.0


def _large_bound(
    tl: Timeline,
    rel: capacity.Relaxation,
    lp: capacity.LpSolution | None,
    context: SolveContext,
    scale: int,
    rounding: float,
) -> float | None:
    """The tightest of the capacity LP, the capacity MIP's dual bound and all weights."""
    reachable = sum(r.weight for r, ok in zip(tl.requests, rel.possible, strict=True) if ok)
    candidates = [reachable + rounding]
    if lp is not None:
        candidates.append(lp.bound)
    budget = min(MIP_BOUND_SECONDS, MIP_BOUND_SHARE * context.options.time_limit_s)
    budget = min(budget, context.remaining() - 1.0)
    if budget > 0.2 and not context.stop.is_set():
        mip = capacity.mip_bound(
            tl, rel, time_limit=budget, threads=context.threads, seed=context.options.seed
        )
        if mip is not None:
            candidates.append(mip)
    return _settled(min(candidates), scale, rounding)


def _settled(bound: float, scale: int, rounding: float) -> float:
    """A bound on Σ weight·served, rounded down to what the weights can sum to."""
    if rounding == 0:  # whole scaled weights: the optimum is a whole number of them too
        return math.floor(bound * scale + 1e-9) / scale
    return bound


def _greedy_value(tl: Timeline, base: GreedyResult) -> float:
    objective = tl.instance.objective
    if objective == "max_weighted_served":
        return float(sum(tl.requests[r].weight for r in base.served))
    if objective == "min_makespan":
        return float(max((p.end for p in base.bookings), default=0))
    last: dict[int, int] = {}
    for p in base.bookings:
        last[p.request] = max(last.get(p.request, 0), p.end)
    total = 0.0
    for r, end in last.items():
        due = tl.requests[r].due
        if due is not None:
            total += tl.requests[r].weight * max(0, end - due)
    return total


def _densities(tl: Timeline) -> list[float]:
    """Each request's weight per booked minute."""
    return [r.weight / sum(s.duration for s in r.steps) for r in tl.requests]


def _density_order(tl: Timeline) -> list[int]:
    """Requests that must be served first, then by weight per booked minute, heaviest first."""
    density = _densities(tl)
    return sorted(range(len(tl.requests)), key=lambda r: (not tl.requests[r].must, -density[r], r))


def _tuning(sm: ScheduleModel, makespan: bool) -> Callable[[Any], None]:
    intervals = sum(len(v) for v in sm._instrument_intervals)

    def tune(params: Any) -> None:
        if makespan and params.num_workers == 2:
            # Measured on ft10 with 2 workers (benchmarks/instruments.py): the default
            # portfolio (default_lp and LNS) finds 930 but leaves the bound at 808 after 60 s;
            # propagation-only search (no_lp) beside default_lp proves 930 in about 33 s.
            params.subsolvers.extend(["no_lp", "default_lp"])
        if intervals > 3000:
            # Measured on a 1,000-request week: presolve probing alone took 19 s of a 20 s
            # budget, so no schedule came back; without it the warm start is in at 2 s.
            params.cp_model_probing_level = 0

    return tune


def _lp_order(tl: Timeline, options: capacity.Options, lp: capacity.LpSolution) -> list[int]:
    """Requests the capacity LP serves whole, by earliest start; then the rest by LP share.

    On rigid requests the LP over the clique rows is integral and its served set is an
    optimum: placed in start order, each finds a free instrument of its pool (an interval
    graph is coloured by first fit in start order). Measured: 6,000 rigid requests on four
    instruments ended 4 % short of the optimum after 60 s of CP-SAT from the other greedy
    orders; from this one the hint is the optimum.
    """

    def earliest(r: int) -> int:
        first = options[r][0] if options[r] else []
        return min((st[0][0] for _, st in first if st), default=0)

    density = _densities(tl)
    whole = [x >= 1 - 1e-6 for x in lp.served]
    return sorted(
        range(len(tl.requests)),
        key=lambda r: (
            not tl.requests[r].must,
            not whole[r],
            earliest(r) if whole[r] else 0,
            -lp.served[r],
            -density[r],
            r,
        ),
    )


def _warm_start(
    tl: Timeline,
    base: GreedyResult,
    context: SolveContext,
    guides: list[list[int]],
    bound: float = math.inf,
    *,
    guides_first: bool = True,
) -> GreedyResult:
    """The best of a few greedy orders: ``guides`` (such as the LP's), list order, weight per
    minute, then perturbations; it stops early at a schedule worth ``bound``.

    Spends at most 5 % of the time limit (and 2 s): on large weeks CP-SAT needs the rest,
    and the first schedule must come early. Seeded by ``options.seed``.
    """
    rng = random.Random(context.options.seed)
    budget = min(2.0, 0.05 * context.options.time_limit_s)
    started = context.elapsed()
    best, best_value = base, _greedy_value(tl, base)
    n = len(tl.requests)
    density = _densities(tl)
    orders = [
        _density_order(tl),
        sorted(range(n), key=lambda r: (not tl.requests[r].must, -tl.requests[r].weight, r)),
    ]
    at = 0 if guides_first else 1
    orders[at:at] = guides
    tries = 0
    while context.elapsed() - started < budget and not context.stop.is_set():
        if best_value >= bound - 1e-9:
            break
        if tries < len(orders):
            order = orders[tries]
        else:
            noisy = [d * rng.uniform(0.6, 1.4) for d in density]
            order = sorted(range(n), key=lambda r: (not tl.requests[r].must, -noisy[r], r))
        tries += 1
        result = greedy(tl, order=order)
        value = _greedy_value(tl, result)
        if not result.failed_must and value > best_value:
            best, best_value = result, value
        if tries >= 50:
            break
    log.debug("warm start: %d greedy orders, best %s", tries, best_value)
    return best
