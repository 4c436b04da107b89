"""Groups mode: consortia as set partitioning over enumerated candidate groups.

Every group that satisfies the membership rules (size, hubs, one region, forbidden and
required pairs) is a column with the sum of its members' pair scores. The LP relaxation is
solved by column generation: HiGHS solves a restricted master, and pricing scans every
column's reduced cost at once with numpy. With the LP optimum ``z_lp`` and any integer
solution ``z_ip`` in hand, a column whose reduced cost is below ``z_ip - z_lp`` cannot be part
of a better solution (for disjoint columns, value <= z_lp + sum of their reduced costs), so an
integer master over the remaining columns proves optimality over *all* groups.

When the enumeration would be too large, a compact CP-SAT model is used instead and its
bound is reported as it stands.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates

log = logging.getLogger(__name__)

MAX_COLUMNS = 8_000_000
"""Enumerating more candidate groups than this falls back to the compact CP-SAT model."""
EXACT_MASTER_COLUMNS = 400_000
"""The most columns handed to the final integer master."""


@dataclass
class GroupsResult:
    status: Status
    groups: list[list[int]]
    bound: float | None
    solver: str
    version: str | None
    method: str


@dataclass
class ColumnSet:
    """Enumerated groups: members (padded with -1), size, score."""

    members: np.ndarray  # (m, max_size) int32, -1 padded
    score: np.ndarray  # (m,) float

    def __len__(self) -> int:
        return len(self.score)


def score_matrix(n: int, cands: Candidates) -> np.ndarray:
    w = np.zeros((n, n))
    w[cands.a, cands.b] = cands.score
    w[cands.b, cands.a] = cands.score
    return w


def count_groups(block_sizes: list[int], min_size: int, max_size: int) -> int:
    return sum(math.comb(s, k) for s in block_sizes for k in range(min_size, max_size + 1))


def blocks(instance: MatchingInstance) -> list[np.ndarray]:
    """Institutions that may share a group: one block per region with ``same_region``."""
    n = len(instance.institutions)
    if not instance.group.same_region:
        return [np.arange(n)]
    by_region: dict[str, list[int]] = {}
    for i, inst in enumerate(instance.institutions):
        if inst.region is not None:
            by_region.setdefault(inst.region, []).append(i)
    return [np.array(v) for v in by_region.values()]


def enumerate_groups(instance: MatchingInstance, cands: Candidates) -> ColumnSet:
    """Every group that the membership rules allow, grown one member at a time (vectorised)."""
    rules, group = instance.rules, instance.group
    n = len(instance.institutions)
    ids = {x.id: k for k, x in enumerate(instance.institutions)}
    w = score_matrix(n, cands)
    forbidden = np.zeros((n, n), dtype=bool)
    for a, b in rules.forbidden:
        forbidden[ids[a], ids[b]] = forbidden[ids[b], ids[a]] = True
    hub = np.array([inst.hub for inst in instance.institutions], dtype=np.int32)
    required = [(ids[x], ids[y]) for x, y in rules.required]

    members_out, score_out = [], []
    for block in blocks(instance):
        # combos: (m, k) indices into the instance, increasing along each row
        combos = block.reshape(-1, 1).astype(np.int32)
        scores = np.zeros(len(block))
        last_pos = np.arange(len(block))  # position of each row's last member within block
        for k in range(1, group.max_size + 1):
            if k >= group.min_size:
                keep = np.ones(len(combos), dtype=bool)
                if group.min_hubs:
                    keep &= hub[combos].sum(axis=1) >= group.min_hubs
                for first, second in required:
                    has_first = (combos == first).any(axis=1)
                    has_second = (combos == second).any(axis=1)
                    keep &= has_first == has_second
                width = group.max_size
                padded = np.full((int(keep.sum()), width), -1, dtype=np.int32)
                padded[:, :k] = combos[keep]
                members_out.append(padded)
                score_out.append(scores[keep])
            if k == group.max_size:
                break
            # extend each combo with every later block member
            counts = len(block) - 1 - last_pos
            rows = np.repeat(np.arange(len(combos)), counts)
            if len(rows) == 0:
                break
            offsets = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
            new_pos = np.repeat(last_pos, counts) + 1 + offsets
            new = block[new_pos].astype(np.int32)
            base = combos[rows]
            ok = ~forbidden[base, new[:, None]].any(axis=1)
            gain = w[base, new[:, None]].sum(axis=1)
            combos = np.concatenate([base[ok], new[ok, None]], axis=1)
            scores = scores[rows][ok] + gain[ok]
            last_pos = new_pos[ok]
    if members_out:
        return ColumnSet(np.concatenate(members_out), np.concatenate(score_out))
    return ColumnSet(np.zeros((0, group.max_size), dtype=np.int32), np.zeros(0))


def must_cover(instance: MatchingInstance) -> np.ndarray:
    """Institutions that have to be in some group: all with cover_all, else required pairs."""
    n = len(instance.institutions)
    if instance.group.cover_all:
        return np.ones(n, dtype=bool)
    ids = {x.id: k for k, x in enumerate(instance.institutions)}
    cover = np.zeros(n, dtype=bool)
    for a, b in instance.rules.required:
        cover[ids[a]] = cover[ids[b]] = True
    return cover


class _Master:
    """Restricted master LP in HiGHS: one row per institution, artificial columns for coverage."""

    def __init__(self, n: int, cover: np.ndarray, penalty: float, context: SolveContext):
        import highspy

        from optimizer.core.highs import new_highs

        self.highs = new_highs(threads=context.threads, seed=context.options.seed)
        self.highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        inf = highspy.kHighsInf
        lower = np.where(cover, 1.0, -inf)
        no_entries = np.zeros(0, dtype=np.int32)
        self.highs.addRows(
            n, lower, np.ones(n), 0, np.zeros(n, dtype=np.int32), no_entries, np.zeros(0)
        )
        # Artificial column per row that must be covered: keeps the LP feasible; a final
        # solution that uses one proves the instance infeasible (penalty > any score range).
        # Columns get no upper bound: the rows imply x <= 1, and a bound would add dual
        # terms that the pricing argument does not account for.
        self.inf = inf
        self.artificial = np.flatnonzero(cover)
        for i in self.artificial:
            self.highs.addCol(-penalty, 0.0, inf, 1, np.array([i], dtype=np.int32), np.array([1.0]))
        self.columns: list[int] = []  # column-set index of each master column after artificials

    def add(self, columns: ColumnSet, chosen: np.ndarray) -> None:
        for c in chosen.tolist():
            row = columns.members[c]
            idx = row[row >= 0]
            self.highs.addCol(
                float(columns.score[c]),
                0.0,
                self.inf,
                len(idx),
                idx.astype(np.int32),
                np.ones(len(idx)),
            )
            self.columns.append(c)

    def solve_lp(self, time_limit: float) -> tuple[float, np.ndarray, bool]:
        """LP value and row duals, and whether HiGHS proved them optimal.

        Duals of an LP stopped early are not dual feasible: no bound may be drawn from them.
        """
        import highspy

        from optimizer.core.highs import run

        run(self.highs, time_limit)  # the limit counts from now, not from the first LP
        info = self.highs.getInfo()
        duals = np.array(self.highs.getSolution().row_dual)
        optimal = self.highs.getModelStatus() in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kModelEmpty,  # no column yet: value 0, duals 0
        )
        return float(info.objective_function_value), duals, optimal


def _reduced_costs(columns: ColumnSet, duals: np.ndarray) -> np.ndarray:
    padded = np.append(duals, 0.0)  # index -1 -> 0
    return columns.score - padded[columns.members].sum(axis=1)


def solve_set_partitioning(
    instance: MatchingInstance, columns: ColumnSet, backend: str, context: SolveContext
) -> GroupsResult:
    n = len(instance.institutions)
    cover = must_cover(instance)
    # An integer penalty keeps the CP-SAT master's scaled objective exact.
    penalty = float(math.ceil(1.0 + float(np.abs(columns.score).sum()))) if len(columns) else 1.0
    # Uncoverable institutions are infeasible outright; the explainer names them.
    covered_somewhere = np.zeros(n, dtype=bool)
    if len(columns):
        flat = columns.members[columns.members >= 0]
        covered_somewhere[np.unique(flat)] = True
    if (cover & ~covered_somewhere).any():
        return GroupsResult(Status.INFEASIBLE, [], None, "highs", _highs_version(), "enumeration")

    master = _Master(n, cover, penalty, context)
    # Start from the best column of each institution: a cheap, diverse first master.
    if len(columns):
        rc = columns.score.copy()
        seed_cols = set(np.argsort(-rc)[: 4 * n].tolist())
        master.add(columns, np.array(sorted(seed_cols), dtype=np.int64))
    in_master = np.zeros(len(columns), dtype=bool)
    in_master[master.columns] = True

    z_lp, duals, lp_optimal = master.solve_lp(context.remaining())
    rc = _reduced_costs(columns, duals) if len(columns) else np.zeros(0)
    iterations = 0
    while lp_optimal and len(columns) and context.remaining() > 0 and not context.stop.is_set():
        iterations += 1
        candidates = np.flatnonzero((rc > 1e-9) & ~in_master)
        if len(candidates) == 0:
            break
        take = candidates[np.argsort(-rc[candidates])[: max(50, 2 * n)]]
        master.add(columns, take)
        in_master[take] = True
        z_lp, duals, lp_optimal = master.solve_lp(context.remaining())
        rc = _reduced_costs(columns, duals)
        context.report(bound=z_lp, phase="column generation")
    lp_converged = lp_optimal and (not len(columns) or not ((rc > 1e-9) & ~in_master).any())
    log.debug(
        "column generation: %d iterations, %d columns, z_lp %.6f, converged %s",
        iterations,
        len(master.columns),
        z_lp,
        lp_converged,
    )

    # First integer master over the generated columns: a good incumbent, fast.
    master_cols = np.array(master.columns, dtype=np.int64)
    incumbent, value, _, _ = _integer_master(
        columns, master_cols, cover, penalty, backend, context, budget=0.4
    )
    if lp_converged:
        bound: float | None = z_lp
    elif lp_optimal and len(columns):
        # Lagrangian bound from the last duals: each of at most n // min_size groups can
        # add at most the largest reduced cost to the master's value.
        most_groups = n // max(1, instance.group.min_size)
        bound = z_lp + most_groups * max(0.0, float(rc.max()))
    else:
        bound = None
    if incumbent is None:
        status = Status.NO_SOLUTION
        return GroupsResult(
            status, [], bound, backend, _solver_version(backend), "column generation"
        )

    groups = incumbent
    best = value
    if lp_converged and best < z_lp - 1e-6:
        # Reduced-cost fixing: only columns with rc >= best - z_lp can improve on `best`.
        threshold = best - z_lp - 1e-7
        keep = np.flatnonzero(rc >= threshold)
        exact = len(keep) <= EXACT_MASTER_COLUMNS
        if not exact:
            keep = keep[np.argsort(-rc[keep])[:EXACT_MASTER_COLUMNS]]
        log.debug("exact phase over %d columns (threshold %.6f)", len(keep), threshold)
        improved, improved_value, proven, restricted_bound = _integer_master(
            columns, keep, cover, penalty, backend, context, budget=1.0
        )
        if improved is not None and improved_value > best:
            groups, best = improved, improved_value
        if exact and proven:
            bound = best
        elif exact and restricted_bound is not None:
            bound = min(z_lp, max(best, restricted_bound))
    elif lp_converged:
        bound = best if best >= z_lp - 1e-6 else z_lp

    # The penalty makes any selection with an artificial column worth less than any real
    # grouping (whose value is at least the sum of the negative scores). So an artificial in
    # a proven optimum, or a bound below every real grouping's value, proves infeasibility.
    lowest_real = float(np.minimum(columns.score, 0.0).sum()) if len(columns) else 0.0
    if any(len(g) == 0 for g in groups):
        proven = bound is not None and best >= bound - 1e-6
        if proven or (bound is not None and bound < lowest_real - 1e-6):
            return GroupsResult(
                Status.INFEASIBLE, [], None, backend, _solver_version(backend), "column generation"
            )
        return GroupsResult(
            Status.NO_SOLUTION, [], None, backend, _solver_version(backend), "column generation"
        )
    status = Status.OPTIMAL if bound is not None and best >= bound - 1e-6 else Status.FEASIBLE
    return GroupsResult(
        status, groups, bound, backend, _solver_version(backend), "column generation"
    )


def _highs_version() -> str | None:
    from optimizer.core.highs import version

    return version()


def _solver_version(backend: str) -> str | None:
    from optimizer.core.cpsat import cpsat_version
    from optimizer.core.mip import package_version

    return {"highs": _highs_version(), "cbc": f"pulp {package_version('pulp')}"}.get(
        backend, cpsat_version()
    )


def _integer_master(
    columns: ColumnSet,
    chosen: np.ndarray,
    cover: np.ndarray,
    penalty: float,
    backend: str,
    context: SolveContext,
    budget: float,
) -> tuple[list[list[int]] | None, float, bool, float | None]:
    """Best disjoint selection among ``chosen`` columns (plus artificials for coverage).

    Returns (groups, value, proven optimal over these columns, bound over these columns).
    An artificial column in the answer appears as an empty group.
    """
    import pulp

    from optimizer.core.mip import solve_pulp

    n = len(cover)
    time_limit = context.remaining() * budget
    if backend == "cp-sat":
        return _integer_master_cpsat(columns, chosen, cover, penalty, context, time_limit)
    problem = pulp.LpProblem("groups", pulp.LpMaximize)
    x = [pulp.LpVariable(f"group_{c}", cat=pulp.LpBinary) for c in chosen.tolist()]
    art = {i: pulp.LpVariable(f"uncovered_{i}", cat=pulp.LpBinary) for i in np.flatnonzero(cover)}
    rows: list[list[tuple[pulp.LpVariable, float]]] = [[] for _ in range(n)]
    for var, c in zip(x, chosen.tolist(), strict=True):
        row = columns.members[c]
        for i in row[row >= 0].tolist():
            rows[i].append((var, 1.0))
    for i, var in art.items():
        rows[i].append((var, 1.0))
    objective = [(v, float(columns.score[c])) for v, c in zip(x, chosen.tolist(), strict=True)]
    objective += [(v, -penalty) for v in art.values()]
    problem += pulp.LpAffineExpression(objective)
    for i, terms in enumerate(rows):
        if terms:
            expr = pulp.LpAffineExpression(terms)
            problem += (expr == 1) if cover[i] else (expr <= 1), f"member_{i}"
        elif cover[i]:
            return None, 0.0, False, None
    result = solve_pulp(problem, backend, context, time_limit=max(0.05, time_limit))
    if not result.has_solution:
        return None, 0.0, False, result.bound
    groups: list[list[int]] = []
    value = 0.0
    for var, c in zip(x, chosen.tolist(), strict=True):
        if (var.value() or 0) > 0.5:
            row = columns.members[c]
            groups.append(row[row >= 0].tolist())
            value += float(columns.score[c])
    for var in art.values():
        if (var.value() or 0) > 0.5:
            groups.append([])
            value -= penalty
    return groups, value, result.status == Status.OPTIMAL, result.bound


def _integer_master_cpsat(
    columns: ColumnSet,
    chosen: np.ndarray,
    cover: np.ndarray,
    penalty: float,
    context: SolveContext,
    time_limit: float,
) -> tuple[list[list[int]] | None, float, bool, float | None]:
    """The integer master in CP-SAT, on scores scaled to integers.

    When no power of ten up to 10**9 makes every score integral, each selected column's
    rounding moves the objective by at most half a unit, so the bound is widened by that
    much per possible column (at most one per institution) and stays a true bound.
    """
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import run_cpsat
    from optimizer.core.scaling import integer_scale

    n = len(cover)
    scores = columns.score[chosen]
    scaling = integer_scale(scores)
    scale, exact = scaling.scale, scaling.exact
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"group_{c}") for c in chosen.tolist()]
    art = {int(i): model.new_bool_var(f"uncovered_{i}") for i in np.flatnonzero(cover)}
    rows: list[list[Any]] = [[] for _ in range(n)]
    for var, c in zip(x, chosen.tolist(), strict=True):
        row = columns.members[c]
        for i in row[row >= 0].tolist():
            rows[i].append(var)
    for i, var in art.items():
        rows[i].append(var)
    for i, terms in enumerate(rows):
        if cover[i]:
            model.add_exactly_one(terms)
        elif terms:
            model.add_at_most_one(terms)
    weights = scaling.scaled(scores).tolist()
    objective = sum(w * v for w, v in zip(weights, x, strict=True))
    objective -= sum(int(penalty) * scale * v for v in art.values())
    model.maximize(objective)
    run = run_cpsat(model, context, scale=scale, time_limit=time_limit)
    if not run.has_solution:
        return None, 0.0, False, None
    groups, value = [], 0.0
    for var, c in zip(x, chosen.tolist(), strict=True):
        if run.solver.value(var):
            row = columns.members[c]
            groups.append(row[row >= 0].tolist())
            value += float(columns.score[c])
    for var in art.values():
        if run.solver.value(var):
            groups.append([])
            value -= penalty
    slack = 0.0 if exact else 0.5 * n / scale
    bound = run.bound_scaled / scale + slack if run.bound_scaled is not None else None
    return groups, value, run.status == Status.OPTIMAL and exact, bound
