"""Groups mode when the candidate groups are too many to enumerate: a compact CP-SAT model
that gives each institution a group slot, and reports its bound as it stands."""

from __future__ import annotations

from optimizer.core.runner import SolveContext
from optimizer.matching.groups import GroupsResult
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import Candidates


def solve_groups_compact(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> GroupsResult:
    """Hard: group sizes, hubs, regions, forbidden/required pairs, cover_all — slot model."""
    from ortools.sat.python import cp_model

    from optimizer.core.cpsat import cpsat_version, run_cpsat
    from optimizer.core.scaling import integer_scale

    insts = instance.institutions
    group = instance.group
    n = len(insts)
    slots = max(1, n // max(1, group.min_size))
    ids = {x.id: k for k, x in enumerate(insts)}
    model = cp_model.CpModel()
    # Institution i may only use slots 0..i: a standard symmetry break for identical slots.
    y = {
        (i, g): model.new_bool_var(f"in[{insts[i].id}][{g}]")
        for i in range(n)
        for g in range(min(slots, i + 1))
    }
    used = [model.new_bool_var(f"used[{g}]") for g in range(slots)]
    for i in range(n):
        mine = [y[i, g] for g in range(min(slots, i + 1))]
        if group.cover_all:
            model.add_exactly_one(mine)
        else:
            model.add_at_most_one(mine)
    for g in range(slots):
        members = [y[i, g] for i in range(g, n)]
        model.add(sum(members) >= group.min_size).only_enforce_if(used[g])
        model.add(sum(members) <= group.max_size * used[g])
        if group.min_hubs:
            hubs = [y[i, g] for i in range(g, n) if insts[i].hub]
            model.add(sum(hubs) >= group.min_hubs).only_enforce_if(used[g])
        if group.same_region:
            for i in range(g, n):
                for j in range(i + 1, n):
                    if insts[i].region is None or insts[i].region != insts[j].region:
                        model.add_bool_or([y[i, g].Not(), y[j, g].Not()])
    for a, b in instance.rules.forbidden:
        i, j = ids[a], ids[b]
        for g in range(min(slots, i + 1, j + 1)):
            model.add_bool_or([y[i, g].Not(), y[j, g].Not()])
    for a, b in instance.rules.required:
        i, j = ids[a], ids[b]
        for g in range(slots):
            yi = y.get((i, g))
            yj = y.get((j, g))
            if yi is None and yj is None:
                continue
            if yi is None or yj is None:
                model.add((yi if yi is not None else yj) == 0)
            else:
                model.add(yi == yj)
        model.add(sum(y[i, g] for g in range(min(slots, i + 1))) == 1)
    scaling = integer_scale(cands.score)
    scale, exact = scaling.scale, scaling.exact
    terms = []
    for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True)):
        weight = round(float(cands.score[k]) * scale)
        if weight == 0:
            continue
        together = model.new_bool_var(f"together[{insts[i].id}][{insts[j].id}]")
        both = []
        for g in range(min(slots, i + 1, j + 1)):
            in_g = model.new_bool_var(f"together[{insts[i].id}][{insts[j].id}][{g}]")
            model.add_bool_and([y[i, g], y[j, g]]).only_enforce_if(in_g)
            model.add_bool_or([y[i, g].Not(), y[j, g].Not()]).only_enforce_if(in_g.Not())
            both.append(in_g)
        model.add(sum(both) == together)
        terms.append(weight * together)
    model.maximize(sum(terms))
    run = run_cpsat(model, context, scale=scale)
    groups: list[list[int]] = []
    if run.has_solution:
        for g in range(slots):
            placed = [i for i in range(g, n) if run.solver.value(y[i, g])]
            if placed:
                groups.append(placed)
    bound = None
    if run.bound_scaled is not None:
        # Each pair that can share a group is rounded by at most half a unit.
        pairs_together = n * (group.max_size - 1) // 2
        bound = run.bound_scaled / scale + (0.0 if exact else 0.5 * pairs_together / scale)
    return GroupsResult(run.status, groups, bound, "cp-sat", cpsat_version(), "compact slots")
