"""The loans model with courier runs (contract 7.7): fixed-charge network design.

A candidate loan is a request, a pool (the lendable copies of one title at one library)
and an outbound run; its return run follows (the first run back on or after the due day),
so each candidate occupies two runs. Binary ``x`` per candidate, binary ``y`` per run:

- Hard: each request has at most one loan;
- Hard: on each day a pool's loans out are at most its copies on the shelf (one fewer with
  ``keep_one_on_shelf``), counted on the days loans ship, where more requests could be out
  than there are copies;
- Hard: ``max_outgoing`` and ``max_imbalance`` count loans per library;
- Hard: a run carries at most ``capacity`` legs, and only when it is paid for: for each run
  and each request that could ride it, the request's candidates on it sum to at most ``y``.
  These per-request links, rather than one aggregated ``capacity · y`` row, make the LP
  bound pay for a run as soon as any loan rides it;
- Hard (re-planning): a frozen previous loan is its request's only candidate and is chosen.

The objective is the run costs, handling and lateness of the loans, and the unfilled
penalties; re-planning, a loan that keeps a previous one costs the change penalty less and
the constant carries the penalty of every previous loan (``replan``). Candidates are every
run out from each pool's first day, until lateness alone makes the loan cost its penalty
(without ``max_imbalance``, such a loan is never better than leaving the request unfilled,
which frees its runs and copy); ``max_days`` cuts them shorter, and then no bound is
claimed.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.loans.backends import Result, fractional, run_highs
from optimizer.loans.candidates import loan_entry
from optimizer.loans.naming import name_copies
from optimizer.loans.replan import Replan
from optimizer.loans.schema import Copy, LoansInstance
from optimizer.loans.timetable import Departure, Timetable

log = logging.getLogger(__name__)

LEGS_PER_LOAN = 2
"""Out and back: handling is paid per leg."""


@dataclass
class CourierCandidates:
    instance: LoansInstance
    timetable: Timetable
    pools: list[tuple[str, str, list[Copy]]] = field(default_factory=list)
    """(library, title, lendable copies in the instance's order)."""
    request: list[int] = field(default_factory=list)
    pool: list[int] = field(default_factory=list)
    out: list[Departure] = field(default_factory=list)
    back: list[Departure] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    """Handling of both legs and lateness, less the change penalty where the loan keeps a
    previous one (re-planning)."""
    runs: list[tuple[int, int]] = field(default_factory=list)
    """(courier index, departure day) of every run some candidate rides."""
    run_of: dict[tuple[int, int], int] = field(default_factory=dict)
    out_run: list[int] = field(default_factory=list)
    back_run: list[int] = field(default_factory=list)
    exact: bool = True
    """False when ``max_days`` left out runs worth considering."""
    kept_copy: dict[int, Copy] = field(default_factory=dict)
    """Re-planning: per candidate that keeps a previous loan, that loan's copy."""
    forced: list[int] = field(default_factory=list)
    """Re-planning: requests whose previous loan is frozen; that loan, on its courier, is
    their only candidate and must be chosen."""
    change_constant: float = 0.0
    """Re-planning: the change cost of a plan that keeps nothing (see ``replan``)."""

    def __len__(self) -> int:
        return len(self.request)

    def run_index(self, k: int, day: int) -> int:
        key = (k, day)
        if key not in self.run_of:
            self.run_of[key] = len(self.runs)
            self.runs.append(key)
        return self.run_of[key]

    def penalties(self) -> np.ndarray:
        pen = self.instance.penalties.unfilled
        return np.array([pen * r.weight for r in self.instance.requests])


def build_courier_candidates(
    instance: LoansInstance,
    *,
    max_days: int | None = None,
    max_per_request: int | None = None,
    replan: Replan | None = None,
) -> CourierCandidates:
    """Every candidate loan: each request, each pool holding one of its titles elsewhere
    with couriers both ways, each run out from the pool's first day on which the loan is
    still worth making. Caps keep the pools with the soonest first run out: at most
    ``max_days`` runs out per request and pool, ``max_per_request`` candidates per request;
    when one cuts, the candidates are marked inexact (no bound is claimed over them).

    With ``replan``, each previous loan the instance can still make is a candidate on every
    run out of its ship day (on its own courier when frozen), whatever the caps, and costs
    the change penalty less; a frozen one is its request's only candidate."""
    table = Timetable(instance)
    cands = CourierCandidates(instance, table)
    keep_of = {k.request: k for k in replan.keeps} if replan is not None else {}
    if replan is not None:
        cands.change_constant = replan.change_constant
        cands.forced = sorted(q for q, k in keep_of.items() if k.frozen)
    pool_index: dict[tuple[str, str], int] = {}
    for c in instance.copies:
        if c.lendable:
            key = (c.library, c.title)
            if key not in pool_index:
                pool_index[key] = len(cands.pools)
                cands.pools.append((c.library, c.title, []))
            cands.pools[pool_index[key]][2].append(c)
    pools_of_title: dict[str, list[int]] = defaultdict(list)
    for p, (_lib, title, _copies) in enumerate(cands.pools):
        pools_of_title[title].append(p)
    release = [min(instance.release_day(c) for c in copies) for _, _, copies in cands.pools]
    last = instance.last_day
    handling = LEGS_PER_LOAN * instance.handling_cost
    pen = instance.penalties
    prune = instance.policies.max_imbalance is None
    schedule: dict[tuple[str, str], tuple[list[int], list[Departure]]] = {}

    def runs_between(a: str, b: str) -> tuple[list[int], list[Departure]]:
        if (a, b) not in schedule:
            deps = table.departures(a, b, 0, last)
            schedule[(a, b)] = ([d.day for d in deps], deps)
        return schedule[(a, b)]

    def add(q: int, p: int, dep: Departure, back: Departure, cost: float) -> None:
        cands.request.append(q)
        cands.pool.append(p)
        cands.out.append(dep)
        cands.back.append(back)
        cands.cost.append(cost)
        cands.out_run.append(cands.run_index(dep.courier, dep.day))
        cands.back_run.append(cands.run_index(back.courier, back.day))

    for q, r in enumerate(instance.requests):
        penalty, rate = pen.unfilled * r.weight, pen.late_per_day * r.weight
        need, opens = instance.day(r.needed_by), instance.open_day(r)
        first = len(cands)
        keep = keep_of.get(q)
        # Pools in order of their first run out, so that a cap keeps the soonest.
        reachable = []
        for title in dict.fromkeys(r.titles) if keep is None or not keep.frozen else ():
            for p in pools_of_title.get(title, []):
                lender = cands.pools[p][0]
                if lender == r.library or not table.serves(r.library, lender):
                    continue
                days, deps = runs_between(lender, r.library)
                at = bisect.bisect_left(days, max(opens, release[p]))
                if at < len(deps):
                    reachable.append((deps[at].arrive, p, lender, deps[at:]))
        reachable.sort(key=lambda x: x[:2])
        total = 0
        for _soonest, p, lender, deps in reachable:
            taken = 0
            for dep in deps:
                cost = handling + rate * max(0, dep.arrive - need)
                if prune and cost >= penalty:
                    continue
                back = table.return_run(r.library, lender, dep.arrive + r.loan_days)
                if back is None:
                    continue
                if (max_days is not None and taken >= max_days) or (
                    max_per_request is not None and total >= max_per_request
                ):
                    cands.exact = False
                    break
                taken += 1
                total += 1
                add(q, p, dep, back, cost)
        if keep is None:
            continue
        assert replan is not None
        # The loans that keep the previous one: found among those above, or added.
        p = pool_index[(keep.copy.library, keep.copy.title)]
        lender = keep.copy.library
        there = {
            (cands.pool[v], cands.out[v].day, cands.out[v].courier): v
            for v in range(first, len(cands))
        }
        for dep in table.departures(lender, r.library, keep.day, keep.day):
            if keep.courier is not None and dep.courier != keep.courier:
                continue
            v = there.get((p, dep.day, dep.courier))
            if v is None:
                back = table.return_run(r.library, lender, dep.arrive + r.loan_days)
                if back is None:
                    continue
                v = len(cands)
                add(q, p, dep, back, handling + rate * max(0, dep.arrive - need))
            cands.cost[v] -= replan.penalty
            cands.kept_copy[v] = keep.copy
    return cands


def restricted_to(cands: CourierCandidates, keep: list[int]) -> CourierCandidates:
    """The candidates ``keep`` (indices into ``cands``) as a model of their own."""
    sub = CourierCandidates(cands.instance, cands.timetable, cands.pools, exact=False)
    sub.change_constant = cands.change_constant
    sub.forced = cands.forced
    for v in keep:
        if v in cands.kept_copy:
            sub.kept_copy[len(sub)] = cands.kept_copy[v]
        sub.request.append(cands.request[v])
        sub.pool.append(cands.pool[v])
        sub.out.append(cands.out[v])
        sub.back.append(cands.back[v])
        sub.cost.append(cands.cost[v])
        sub.out_run.append(sub.run_index(*cands.runs[cands.out_run[v]]))
        sub.back_run.append(sub.run_index(*cands.runs[cands.back_run[v]]))
    return sub


@dataclass
class CourierModel:
    matrix: Any
    cost: np.ndarray
    offset: float
    lower: np.ndarray
    upper: np.ndarray
    names: list[str]
    """Row names, after domain ids, for debugging dumps."""


class _Rows:
    def __init__(self) -> None:
        self.row: list[int] = []
        self.col: list[int] = []
        self.val: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.names: list[str] = []

    def add(self, name: str, cols: list[int], vals: list[float], lo: float, hi: float) -> None:
        r = len(self.names)
        self.row.extend([r] * len(cols))
        self.col.extend(cols)
        self.val.extend(vals)
        self.lower.append(lo)
        self.upper.append(hi)
        self.names.append(name)


def build_courier_model(cands: CourierCandidates) -> CourierModel:
    """Rows and objective over x (candidates) then y (runs)."""
    from scipy.sparse import csr_matrix

    instance = cands.instance
    n, m = len(cands), len(cands.runs)
    rows = _Rows()
    by_request: dict[int, list[int]] = defaultdict(list)
    for v, q in enumerate(cands.request):
        by_request[q].append(v)
    forced = set(cands.forced)
    for q, vs in by_request.items():
        if q in forced:  # a frozen loan: its one candidate
            rows.add(f"frozen[{instance.requests[q].id}]", vs, [1.0] * len(vs), 1.0, 1.0)
        elif len(vs) > 1:
            rows.add(f"one[{instance.requests[q].id}]", vs, [1.0] * len(vs), -np.inf, 1.0)
    _pool_rows(cands, rows)
    _library_rows(cands, rows)
    _run_rows(cands, rows, n)
    pen = cands.penalties()
    x_cost = np.array(cands.cost, dtype=float) - pen[np.array(cands.request, dtype=np.int64)]
    y_cost = np.array([instance.couriers[k].cost_per_run for k, _ in cands.runs], dtype=float)
    matrix = csr_matrix((rows.val, (rows.row, rows.col)), shape=(len(rows.names), n + m))
    return CourierModel(
        matrix,
        np.concatenate([x_cost, y_cost]),
        float(pen.sum()) + cands.change_constant,
        np.array(rows.lower, dtype=float),
        np.array(rows.upper, dtype=float),
        rows.names,
    )


def shelf_rows(cands: CourierCandidates) -> tuple[Any, np.ndarray]:
    """The pool rows alone, as (matrix over the candidates, right-hand sides): on each day
    a loan ships, a pool's loans out are at most its copies on the shelf."""
    from scipy.sparse import csr_matrix

    rows = _Rows()
    _pool_rows(cands, rows)
    matrix = csr_matrix((rows.val, (rows.row, rows.col)), shape=(len(rows.names), len(cands)))
    return matrix, np.array(rows.upper, dtype=float)


def _pool_rows(cands: CourierCandidates, rows: _Rows) -> None:
    """Hard: a pool's loans out on a day are at most its copies on the shelf (less one with
    keep_one_on_shelf), on each day a loan ships where more requests could be out."""
    instance = cands.instance
    keep_one = 1 if instance.policies.keep_one_on_shelf else 0
    members: dict[int, list[int]] = defaultdict(list)
    for v, p in enumerate(cands.pool):
        members[p].append(v)
    for p, vs in members.items():
        library, title, copies = cands.pools[p]
        releases = sorted(instance.release_day(c) for c in copies)
        ship = np.array([cands.out[v].day for v in vs])
        home = np.array([cands.back[v].arrive for v in vs])
        req = np.array([cands.request[v] for v in vs])
        for t in np.unique(ship).tolist():
            on = np.flatnonzero((ship <= t) & (home > t))
            shelf = max(0, bisect.bisect_right(releases, t) - keep_one)
            if len(np.unique(req[on])) <= shelf:
                continue
            cols = [vs[i] for i in on.tolist()]
            rows.add(f"pool[{library}][{title}][{t}]", cols, [1.0] * len(cols), -np.inf, shelf)


def _library_rows(cands: CourierCandidates, rows: _Rows) -> None:
    """Hard: max_outgoing per lender; max_imbalance between loans lent and received."""
    instance = cands.instance
    lent: dict[str, list[int]] = defaultdict(list)
    received: dict[str, list[int]] = defaultdict(list)
    for v, (q, p) in enumerate(zip(cands.request, cands.pool, strict=True)):
        lent[cands.pools[p][0]].append(v)
        received[instance.requests[q].library].append(v)
    for x in instance.libraries:
        cap = x.max_outgoing
        out = lent.get(x.id, [])
        if cap is not None and len({cands.request[v] for v in out}) > cap:
            rows.add(f"max_outgoing[{x.id}]", out, [1.0] * len(out), -np.inf, cap)
    k = instance.policies.max_imbalance
    if k is None:
        return
    for x in instance.libraries:
        coef: dict[int, float] = defaultdict(float)
        for v in lent.get(x.id, []):
            coef[v] += 1.0
        for v in received.get(x.id, []):
            coef[v] -= 1.0
        cols = [v for v, c in coef.items() if c != 0.0]
        if cols:
            rows.add(f"imbalance[{x.id}]", cols, [coef[v] for v in cols], -k, k)


def _run_rows(cands: CourierCandidates, rows: _Rows, n: int) -> None:
    """Hard: a run carries a leg only when paid for (per request: its candidates on the run
    sum to at most y), and at most ``capacity`` legs."""
    instance = cands.instance
    legs: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for v, q in enumerate(cands.request):
        legs[cands.out_run[v]][q].append(v)
        legs[cands.back_run[v]][q].append(v)
    for run, per_request in legs.items():
        k, day = cands.runs[run]
        courier = instance.couriers[k]
        y = n + run
        for q, vs in per_request.items():
            rows.add(
                f"ride[{courier.id}][{day}][{instance.requests[q].id}]",
                [*vs, y],
                [1.0] * len(vs) + [-1.0],
                -np.inf,
                0.0,
            )
        if len(per_request) > courier.capacity:
            cols = [v for vs in per_request.values() for v in vs]
            rows.add(
                f"capacity[{courier.id}][{day}]",
                [*cols, y],
                [1.0] * len(cols) + [-float(courier.capacity)],
                -np.inf,
                0.0,
            )


def courier_start(cands: CourierCandidates, payload: dict[str, Any]) -> np.ndarray:
    """A plan's loans as a start vector over x then y: each loan that is a candidate (a
    loan costing its penalty is not, and leaving it out keeps every rule but
    ``max_imbalance``, under which every loan is a candidate), and the runs they ride."""
    instance = cands.instance
    index = {r.id: q for q, r in enumerate(instance.requests)}
    courier = {k.id: i for i, k in enumerate(instance.couriers)}
    pool = {(lib, title): p for p, (lib, title, _) in enumerate(cands.pools)}
    where = {
        (q, p, dep.courier, dep.day): v
        for v, (q, p, dep) in enumerate(zip(cands.request, cands.pool, cands.out, strict=True))
    }
    x = np.zeros(len(cands) + len(cands.runs))
    for e in payload["loans"]:
        key = (
            index[e["request"]],
            pool[(e["lender"], e["title"])],
            courier[e["courier"]],
            instance.day(date.fromisoformat(e["ship"])),
        )
        v = where.get(key)
        if v is not None:
            x[v] = 1.0
            x[len(cands) + cands.out_run[v]] = 1.0
            x[len(cands) + cands.back_run[v]] = 1.0
    return x


def solve_courier_model(
    cands: CourierCandidates,
    model: CourierModel,
    context: SolveContext,
    *,
    start: np.ndarray | None = None,
) -> Result:
    """The MIP on the backend ``options.solver`` names (``auto`` is HiGHS); with HiGHS,
    never worse than the plan ``start`` when given.

    ``start`` is not handed to HiGHS as a MIP start: HiGHS 1.16 given this model's start
    reported it optimal with a dual bound equal to its objective while a better plan exists
    (tests/loans/test_couriers.py, seed 14, found it), so it is kept aside and taken only
    when HiGHS ends with nothing better."""
    backend = context.options.solver
    n = len(cands)
    if backend in ("auto", "highs", "rota"):
        run = run_highs(model.matrix, model.cost, model.lower, model.upper, context, relax=False)
        bound = None if run.bound is None else run.bound + model.offset
        version = highs_adapter.version()
        x = run.x
        if start is not None and (x is None or model.cost @ start < model.cost @ x - 1e-9):
            x = start
        chosen = np.zeros(0, dtype=np.int64) if x is None else np.flatnonzero(x[:n] > 0.5)
        status = run.status
        if x is not None and status not in (Status.OPTIMAL, Status.FEASIBLE):
            status = Status.FEASIBLE
        if x is not None and fractional(x):
            log.warning("HiGHS returned %d fractional values", fractional(x))
        result = Result(status, "highs", chosen, bound, version, "mip")
    elif backend == "cbc":
        result = _solve_cbc(model, n, context)
    elif backend == "cp-sat":
        result = _solve_cp_sat(model, n, context)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    if not cands.exact:
        result.bound = None
        if result.status == Status.OPTIMAL:
            result.status = Status.FEASIBLE
    return result


def _solve_cbc(model: CourierModel, n: int, context: SolveContext) -> Result:
    """CBC, through PuLP, on the same rows."""
    import pulp

    from optimizer.core.mip import solve_pulp

    size = model.matrix.shape[1]
    problem = pulp.LpProblem("loans_couriers", pulp.LpMinimize)
    z = [pulp.LpVariable(f"z{j}", cat=pulp.LpBinary) for j in range(size)]
    problem += pulp.lpSum(float(c) * z[j] for j, c in enumerate(model.cost)) + model.offset
    csr = model.matrix.tocsr()
    for i in range(csr.shape[0]):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        expr = pulp.lpSum(
            float(a) * z[int(j)] for j, a in zip(csr.indices[lo:hi], csr.data[lo:hi], strict=True)
        )
        if np.isfinite(model.lower[i]):
            problem += expr >= float(model.lower[i]), f"r{i}_lo"
        if np.isfinite(model.upper[i]):
            problem += expr <= float(model.upper[i]), f"r{i}_hi"
    result = solve_pulp(problem, "cbc", context)
    if not result.has_solution:
        none = np.zeros(0, dtype=np.int64)
        return Result(result.status, "cbc", none, result.bound, result.version, "mip")
    chosen = np.array([j for j in range(n) if (z[j].value() or 0) > 0.5], dtype=np.int64)
    return Result(result.status, "cbc", chosen, result.bound, result.version, "mip")


def _solve_cp_sat(model: CourierModel, n: int, context: SolveContext) -> Result:
    """CP-SAT on the same rows, costs scaled to integers; the bound is widened by what the
    rounding can move any plan's cost, and optimality claimed only when it still holds."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat
    from optimizer.core.scaling import integer_scale

    scaling = integer_scale(model.cost)
    cp = cp_model.CpModel()
    size = model.matrix.shape[1]
    z = [cp.new_bool_var(f"z{j}") for j in range(size)]
    csr = model.matrix.tocsr()
    for i in range(csr.shape[0]):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        expr = sum(
            int(a) * z[int(j)] for j, a in zip(csr.indices[lo:hi], csr.data[lo:hi], strict=True)
        )
        if np.isfinite(model.lower[i]):
            cp.add(expr >= int(np.ceil(model.lower[i])))
        if np.isfinite(model.upper[i]):
            cp.add(expr <= int(np.floor(model.upper[i])))
    cp.minimize(sum(int(c) * z[j] for j, c in enumerate(scaling.scaled(model.cost).tolist())))
    run = run_cpsat(cp, context, scale=scaling.scale)
    if not run.has_solution:
        none = np.zeros(0, dtype=np.int64)
        return Result(run.status, "cp-sat", none, None, cpsat_version(), "mip")
    values = np.array([run.solver.boolean_value(v) for v in z], dtype=bool)
    chosen = np.flatnonzero(values[:n])
    bound = None
    if run.bound_scaled is not None:
        bound = run.bound_scaled / scaling.scale + model.offset - scaling.rounding_error(model.cost)
    status = run.status
    if status == Status.OPTIMAL and not scaling.exact:
        objective = float(model.cost[values].sum()) + model.offset
        gap = max(1e-6, context.options.relative_gap * abs(objective))
        if bound is None or objective - bound > gap:
            status = Status.FEASIBLE
    return Result(status, "cp-sat", chosen, bound, cpsat_version(), "mip")


def courier_payload(cands: CourierCandidates, selected: np.ndarray) -> dict[str, Any]:
    """Name a copy for every chosen loan; write loans, unfilled and runs."""
    instance = cands.instance
    by_pool: dict[int, list[int]] = defaultdict(list)
    for v in selected.tolist():
        by_pool[cands.pool[v]].append(v)
    loans = []
    for p, chosen in by_pool.items():
        spans = sorted(
            (cands.out[v].day, v, cands.back[v].arrive - cands.out[v].day) for v in chosen
        )
        wanted = {v: cands.kept_copy[v] for v in chosen if v in cands.kept_copy}
        named = name_copies(instance, cands.pools[p][2], spans, wanted)
        for _day, v, _busy in spans:
            loans.append(
                courier_loan_entry(
                    instance, cands.request[v], named[v], cands.out[v], cands.back[v]
                )
            )
    return courier_plan(instance, loans)


def courier_loan_entry(
    instance: LoansInstance, request_index: int, copy: Copy, out: Departure, back: Departure
) -> dict[str, Any]:
    """One loan riding courier runs: the loan of 7.4, coming home on its return run."""
    due_back = out.arrive + instance.requests[request_index].loan_days
    entry = dict(
        loan_entry(
            instance,
            request_index,
            copy,
            out.day,
            out.arrive - out.day,
            back.arrive - due_back,
            LEGS_PER_LOAN * instance.handling_cost,
        )
    )
    return entry | {
        "courier": instance.couriers[out.courier].id,
        "return_courier": instance.couriers[back.courier].id,
        "return_ship": (instance.horizon.start + timedelta(days=back.day)).isoformat(),
    }


def courier_plan(instance: LoansInstance, loans: list[dict[str, Any]]) -> dict[str, Any]:
    """The payload of ``loans``: sorted loans, the unfilled requests, and the runs the legs
    ride, each with its items and cost."""
    loans.sort(key=lambda e: (e["ship"], e["lender"], e["request"]))
    filled = {e["request"] for e in loans}
    items: dict[tuple[str, str], int] = defaultdict(int)
    for e in loans:
        items[(e["courier"], e["ship"])] += 1
        items[(e["return_courier"], e["return_ship"])] += 1
    cost = {c.id: c.cost_per_run for c in instance.couriers}
    runs = [
        {"courier": k, "day": day, "items": n, "cost": cost[k]}
        for (k, day), n in sorted(items.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    return {
        "loans": loans,
        "unfilled": [r.id for r in instance.requests if r.id not in filled],
        "runs": runs,
    }
