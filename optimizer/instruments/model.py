"""CP-SAT model of an instruments week, over integer minutes from the horizon start.

One optional interval per (step, eligible instrument) and per (step, qualified operator);
no-overlap per instrument (each booking carries its instrument's changeover as a tail) and
per operator; allowed start domains encode availability minus maintenance, release and
deadline; travel separates consecutive steps by the sites they land on.

Performance structure, each measured with ``benchmarks/instruments.py``: the best of a few
greedy orders is a complete hint (first-come-first-served also caps the makespan horizon);
energetic cuts per instrument type, instrument and operator pool over day windows are added
to the model and solved as an LP of their own, whose optimum is a proven bound on weighted
requests served (CP-SAT's own bound on large weeks stays near the sum of all weights);
subsolvers and probing are tuned by problem shape (see :func:`_tuning`). Above
``LARGE_INTERVALS`` options (weeks of about 1,000 requests and more) one CP-SAT run on the full
model improves little (its LNS presolves the whole model per neighbourhood), so
:mod:`optimizer.instruments.lns` searches small sub-models from the warm start instead and
the LP's optimum is the reported bound.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optimizer.core.cpsat import cpsat_version, run_cpsat
from optimizer.core.envelope import Status
from optimizer.core.runner import Outcome, SolveContext
from optimizer.instruments import explain
from optimizer.instruments.greedy import GreedyResult, greedy
from optimizer.instruments.schema import InstrumentsInstance
from optimizer.instruments.timeline import (
    Placed,
    StepData,
    Timeline,
    build_timeline,
    intersect_ranges,
    merge,
    start_ranges,
    to_payload,
)

log = logging.getLogger(__name__)

SOLVERS = ("auto", "cp-sat", "greedy")
# Above this many (step, instrument) options, neighbourhood search replaces one CP-SAT run.
LARGE_INTERVALS = 3000


def _intersect(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Intersection of two sorted lists of half-open segments."""
    out = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def weight_scale(weights: list[float]) -> tuple[int, float]:
    """An integer scale for the weights, and the most the rounding can move a weighted sum.

    Weights with up to six decimals scale exactly; others are rounded at 1e-6 and the
    rounding error is returned, so the reported bound stays a true bound.
    """
    for k in range(7):
        scale = 10**k
        if all(abs(w * scale - round(w * scale)) < 1e-9 for w in weights):
            return scale, 0.0
    scale = 10**6
    return scale, sum(abs(w - round(w * scale) / scale) for w in weights)


class OutOfTime(Exception):
    """The time limit ran out while the model was being built."""


@dataclass
class Option:
    """A step on one instrument: its literal and the starts it allows there."""

    instrument: int
    literal: Any
    starts: list[tuple[int, int]]


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
    ) -> None:
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        self.tl = tl
        self.model = cp_model.CpModel()
        self.relax_must = relax_must
        self.served: list[Any] = []
        self.steps: list[list[StepVars]] = []
        self.assumptions: dict[int, tuple[str, int, int | None]] = {}
        self.assumption_literals: dict[int, Any] = {}
        self.exact = True
        self.scale = 1
        self.rounding = 0.0
        self.makespan: Any = None
        self.tardiness: dict[int, Any] = {}
        self._instrument_intervals: list[list[Any]] = [[] for _ in tl.instrument_ids]
        self._operator_intervals: list[list[Any]] = [[] for _ in tl.operator_ids]
        self._site_literals: dict[tuple[int, int], Any] = {}
        self.cuts: list[tuple[dict[int, int], int]] = []
        self._starts_cache: dict[tuple[int, int, int, int, bool], list[tuple[int, int]]] = {}
        self.lp_value: float | None = None
        for r in range(len(tl.requests)):
            if out_of_time is not None and r % 50 == 0 and out_of_time():
                raise OutOfTime
            self._request(r)
        self._no_overlap()
        self._quotas()
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
        durations = [s.duration for s in req.steps]
        before = 0
        after = sum(durations)
        vars_: list[StepVars] = []
        for step in req.steps:
            after -= step.duration
            lo, hi_end = req.release + before, req.deadline - after
            before += step.duration
            vars_.append(self._step(rid, served, step, lo, hi_end))
        self.steps.append(vars_)
        if any(not v.options for v in vars_):
            m.add(served == 0)
            return
        for a, b in itertools.pairwise(vars_):
            self._precedence(served, a, b)

    def _step(self, rid: str, served: Any, step: StepData, lo: int, hi_end: int) -> StepVars:
        """Hard: one eligible instrument, inside a free segment, with a qualified operator."""
        tl, m = self.tl, self.model
        name = f"{rid}][s{step.index}"
        d = step.duration
        candidates = step.instruments
        if step.pin is not None:
            candidates = [step.pin[0]]
        options: list[tuple[int, list[tuple[int, int]]]] = []
        for i in candidates:
            quota = tl.quotas.get((tl.requests[step.request].institution, tl.instrument_type[i]))
            if quota is not None and quota < d:
                continue
            key = (i, d, lo, hi_end, step.operator_required)
            if key not in self._starts_cache:  # steps often share duration and window
                starts = start_ranges(tl.free[i], d, lo, hi_end)
                if step.operator_required:
                    op_starts = merge(
                        [
                            (a, b + 1)
                            for o in tl.operators_for(i)
                            for a, b in start_ranges(tl.operator_free[o], d, lo, hi_end)
                        ]
                    )
                    starts = intersect_ranges(starts, [(a, b - 1) for a, b in op_starts])
                self._starts_cache[key] = starts
            starts = self._starts_cache[key]
            if step.pin is not None and not self.relax_must:
                s = step.pin[1]
                starts = [(s, s)] if any(a <= s <= b for a, b in starts) else []
            if starts:
                options.append((i, starts))
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
            size = d + tl.changeover[i]
            self._instrument_intervals[i].append(
                m.new_optional_fixed_size_interval_var(start, size, lit, f"on[{name}][{iid}]")
            )
            sv.options.append(Option(i, lit, starts))
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
        # The changeover tail also separates two steps of the same request on one instrument,
        # which the contract does not ask for: then the model is a restriction, not exact.
        tl = self.tl
        for vars_ in self.steps:
            seen: set[int] = set()
            for sv in vars_:
                for o in sv.options:
                    if tl.changeover[o.instrument] and o.instrument in seen:
                        self.exact = False
                seen.update(o.instrument for o in sv.options)

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
                    size = sv.step.duration + tl.changeover[o.instrument]
                    first, last = o.starts[0][0], o.starts[-1][1]
                    if last < first + size:
                        parts[o.instrument].append((last, first + size, o.literal))
        for segments in parts:
            if len(segments) < 2:
                continue
            # Sweep: a maximal clique of an interval graph closes at the first end after a
            # run of starts. Ends sort before starts at one time (half-open intervals).
            events = sorted(
                [(a, 1, k) for k, (a, _, _) in enumerate(segments)]
                + [(b, 0, k) for k, (_, b, _) in enumerate(segments)]
            )
            active: set[int] = set()
            grew = False
            for _, is_start, k in events:
                if is_start:
                    active.add(k)
                    grew = True
                else:
                    if grew and len(active) > 1:
                        self.model.add_at_most_one([segments[j][2] for j in active])
                    grew = False
                    active.discard(k)

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
        """Redundant: minutes a window must hold never exceed the capacity inside it.

        Energetic reasoning over a grid of day boundaries. For each instrument type (and
        each single instrument), every step that can only run there, started anywhere in its
        allowed range, occupies at least ``d - (a - lo)+ - (hi - b)+`` minutes of [a, b);
        served steps together never need more than the free minutes of those instruments in
        [a, b). The same holds for operators. These rows give the LP relaxation, and so the
        bound, its strength; :meth:`lp_bound` solves them on their own.
        """
        tl = self.tl
        h = tl.horizon
        grid = sorted({*range(0, h, 1440), h})
        by_type: dict[str, set[int]] = {}
        for i, t in enumerate(tl.instrument_type):
            by_type.setdefault(t, set()).add(i)
        families = list(by_type.values()) + [
            {i} for i in range(len(tl.instrument_ids)) if len(by_type[tl.instrument_type[i]]) > 1
        ]
        items: list[list[tuple[int, int, int, int]]] = [[] for _ in families]
        staffed_items: list[list[tuple[int, int, int, int]]] = [[] for _ in families]
        staffed: list[tuple[int, int, int, int]] = []
        for r, vars_ in enumerate(self.steps):
            if not all(sv.options for sv in vars_):
                continue
            for sv in vars_:
                lo = min(o.starts[0][0] for o in sv.options)
                hi = max(o.starts[-1][1] for o in sv.options) + sv.step.duration
                item = (lo, hi, sv.step.duration, r)
                used = {o.instrument for o in sv.options}
                for f, family in enumerate(families):
                    if used <= family:
                        items[f].append(item)
                        if sv.step.operator_required:
                            staffed_items[f].append(item)
                if sv.step.operator_required:
                    staffed.append(item)

        def overlap(segments: list[tuple[int, int]], a: int, b: int) -> int:
            return sum(max(0, min(y, b) - max(x, a)) for x, y in segments)

        def pieces(family: set[int], a: int, b: int) -> int:
            # The last booking of each free piece may let its changeover fall past the piece.
            return sum(1 for i in family for x, y in tl.free[i] if min(y, b) > max(x, a))

        def cut(rows, capacity, tail: int, count: Callable[[int, int], int], name: str) -> None:
            for x, a in enumerate(grid):
                for b in grid[x + 1 :]:
                    need: dict[int, int] = {}
                    for lo, hi, d, r in rows:
                        least = d - max(0, a - lo) - max(0, hi - b)
                        if least > 0:
                            inside = a <= lo and hi <= b
                            need[r] = need.get(r, 0) + least + (tail if inside else 0)
                    cap = capacity(a, b) + (tail * count(a, b) if tail else 0)
                    if sum(need.values()) > cap:
                        self.cuts.append((need, cap))
                        self.model.add(
                            sum(c * self.served[r] for r, c in need.items()) <= cap
                        ).with_name(f"energy[{name}][{a}:{b}]")

        for f, family in enumerate(families):
            if not items[f]:
                continue
            tail = min(tl.changeover[i] for i in family)
            name = ",".join(sorted(tl.instrument_ids[i] for i in family))
            cut(
                items[f],
                lambda a, b, f=family: sum(overlap(tl.free[i], a, b) for i in f),
                tail,
                functools.partial(pieces, family),
                name,
            )
        # Staffed steps need the instrument free and a qualified operator on shift at once.
        manned = [
            _intersect(
                tl.free[i], merge([w for o in tl.operators_for(i) for w in tl.operator_free[o]])
            )
            for i in range(len(tl.instrument_ids))
        ]
        for f, family in enumerate(families):
            if not staffed_items[f]:
                continue
            crew = {o for i in family for o in tl.operators_for(i)}
            name = ",".join(sorted(tl.instrument_ids[i] for i in family))
            cut(
                staffed_items[f],
                lambda a, b, f=family, c=crew: min(
                    sum(overlap(manned[i], a, b) for i in f),
                    sum(overlap(tl.operator_free[o], a, b) for o in c),
                ),
                0,
                lambda a, b: 0,
                f"staffed:{name}",
            )
        if staffed and tl.operator_ids:
            cut(
                staffed,
                lambda a, b: sum(overlap(seg, a, b) for seg in tl.operator_free),
                0,
                lambda a, b: 0,
                "operators",
            )

    def lp_bound(self) -> float | None:
        """Upper bound on Σ weight·served from the energy rows and quotas alone (GLOP LP).

        Every schedule satisfies these rows, so the LP optimum bounds the true optimum.
        """
        from ortools.linear_solver import pywraplp

        tl = self.tl
        lp = pywraplp.Solver.CreateSolver("GLOP")
        if lp is None:
            return None
        x = []
        for r, vars_ in enumerate(self.steps):
            possible = all(sv.options for sv in vars_)
            low = 1.0 if tl.requests[r].must and possible else 0.0
            x.append(lp.NumVar(low, 1.0 if possible else 0.0, f"served[{tl.requests[r].id}]"))
        for need, cap in self.cuts:
            lp.Add(sum(c * x[r] for r, c in need.items()) <= cap)
        for key, row in self.quota_rows().items():
            lp.Add(sum(c * x[r] for r, c in row.items()) <= tl.quotas[key])
        lp.Maximize(sum(req.weight * x[r] for r, req in enumerate(tl.requests)))
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        # Guard against the LP's floating-point tolerance: a hair above is still a bound.
        return lp.Objective().Value() + 1e-6 * max(1.0, lp.Objective().Value())

    def quota_rows(self) -> dict[tuple[str, str], dict[int, int]]:
        """Minutes per request counted against each quota, for steps of a single type."""
        tl = self.tl
        quota_rows: dict[tuple[str, str], dict[int, int]] = {}
        for r, vars_ in enumerate(self.steps):
            for sv in vars_:
                types = {tl.instrument_type[o.instrument] for o in sv.options}
                key = (tl.requests[r].institution, types.pop()) if len(types) == 1 else None
                if key in tl.quotas:
                    row = quota_rows.setdefault(key, {})
                    row[r] = row.get(r, 0) + sv.step.duration
        return quota_rows

    # ------------------------------------------------------------ objectives

    def set_objective(self, upper_makespan: int | None = None) -> None:
        tl, m = self.tl, self.model
        objective = tl.instance.objective
        weights = [r.weight for r in tl.requests]
        self.scale, self.rounding = weight_scale(weights)
        if objective == "max_weighted_served":
            total = sum(
                round(w * self.scale) * p for w, p in zip(weights, self.served, strict=True)
            )
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
            total.append(round(req.weight * self.scale) * late)
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
    if greedy_ok and tl.instance.objective == "max_weighted_served":
        start = _warm_start(tl, base, context)
    extra: dict[str, Any] = {"greedy_objective": _greedy_value(tl, base) if greedy_ok else None}
    try:
        # Large weeks can take longer to build than the limit allows: then the warm start
        # is the answer, rather than a run far past the limit.
        sm = ScheduleModel(tl, out_of_time=lambda: context.remaining() < 1.0 and greedy_ok)
    except OutOfTime:
        extra["note"] = "the time limit ran out while building the model; best greedy order"
        return _finish(tl, Status.FEASIBLE, "greedy", start.bookings, context, extra_kpis=extra)
    sm.set_objective(upper_makespan=upper)
    if greedy_ok:
        sm.hint(start.bookings, start.served)
        if context.remaining() < 1.0:  # CP-SAT could not even load the model in time
            extra["note"] = "no time left for CP-SAT after building the model; best greedy order"
            bound = sm.lp_value if sm.exact else None
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, extra_kpis=extra,
            )  # fmt: skip
    makespan = tl.instance.objective == "min_makespan"
    if greedy_ok and not makespan and _large(sm) and tl.instance.objective == "max_weighted_served":
        return _solve_lns(tl, sm, start, context, extra)
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
            bound = sm.lp_value if sm.exact else None
            extra["note"] = "CP-SAT found no schedule in time; this is the best greedy order"
            return _finish(
                tl, Status.FEASIBLE, "greedy", start.bookings, context,
                bound=bound, version=version, extra_kpis=extra,
            )  # fmt: skip
        return Outcome(run.status, "cp-sat", solver_version=version)
    placed = sm.read(run.solver)
    status, bound = run.status, sm.true_bound(run.bound_scaled)
    if not sm.exact:
        status, bound = Status.FEASIBLE, None
        extra["note"] = "changeover between steps of one request: optimality not claimed"
    return _finish(
        tl, status, "cp-sat", placed, context, bound=bound, version=version, extra_kpis=extra
    )


def _large(sm: ScheduleModel) -> bool:
    return sum(len(v) for v in sm._instrument_intervals) > LARGE_INTERVALS


def _solve_lns(
    tl: Timeline,
    sm: ScheduleModel,
    start: GreedyResult,
    context: SolveContext,
    extra: dict[str, Any],
) -> Outcome:
    """Large weeks: neighbourhood search from the warm start, bounded by the LP."""
    from optimizer.instruments.lns import improve

    value = _greedy_value(tl, start)
    context.report(objective=value, bound=sm.lp_value, solutions=1, phase="cp-sat")
    placed, served, tries = improve(
        tl,
        start.bookings,
        start.served,
        seed=context.options.seed,
        time_left=context.remaining,
        stop=context.stop.is_set,
        threads=context.threads,
        scale=sm.scale,
        bound=sm.lp_value,
        on_improve=lambda v: context.report(
            objective=v, bound=sm.lp_value, solutions=1, phase="cp-sat"
        ),
    )
    extra["neighbourhoods"] = tries
    value = float(sum(tl.requests[r].weight for r in served))
    if sm.lp_value is None:
        scaled = float(sum(round(r.weight * sm.scale) for r in tl.requests))
    elif sm.rounding == 0:  # whole scaled weights: the optimum is whole too
        scaled = float(math.floor(sm.lp_value * sm.scale + 1e-9))
    else:
        scaled = sm.lp_value * sm.scale
    bound = sm.true_bound(scaled) if sm.exact else None
    status = Status.FEASIBLE
    if bound is not None and value >= bound - 1e-6:
        status = Status.OPTIMAL
    return _finish(
        tl, status, "cp-sat", placed, context,
        bound=bound, version=cpsat_version(), extra_kpis=extra,
    )  # fmt: skip


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


def _density_order(tl: Timeline) -> list[int]:
    """Requests that must be served first, then by weight per booked minute, heaviest first."""
    n = len(tl.requests)

    def density(r: int) -> float:
        req = tl.requests[r]
        return req.weight / sum(s.duration for s in req.steps)

    return sorted(range(n), key=lambda r: (not tl.requests[r].must, -density(r), r))


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


def _warm_start(tl: Timeline, base: GreedyResult, context: SolveContext) -> GreedyResult:
    """The best of a few greedy orders: list order, weight per minute, then perturbations.

    Spends at most 5 % of the time limit (and 2 s): on large weeks CP-SAT needs the rest,
    and the first schedule must come early. Seeded by ``options.seed``.
    """
    rng = random.Random(context.options.seed)
    budget = min(2.0, 0.05 * context.options.time_limit_s)
    started = context.elapsed()
    best, best_value = base, _greedy_value(tl, base)
    n = len(tl.requests)
    density = [r.weight / sum(s.duration for s in r.steps) for r in tl.requests]
    orders = [
        _density_order(tl),
        sorted(range(n), key=lambda r: (not tl.requests[r].must, -tl.requests[r].weight, r)),
    ]
    tries = 0
    while context.elapsed() - started < budget and not context.stop.is_set():
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
