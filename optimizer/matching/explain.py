"""Why an institution was left out, and which rules make an instance infeasible."""

from __future__ import annotations

import logging
from collections import Counter

from optimizer.core.envelope import Explanation
from optimizer.core.runner import SolveContext
from optimizer.matching.schema import MatchingInstance
from optimizer.matching.scores import RULE_WORDS, Candidates, incidence, removal_reason

log = logging.getLogger(__name__)


def _rule_summary(instance: MatchingInstance, i: int) -> tuple[str, list[str]]:
    """Why no pair (i, j) survived: counts per rule, most common first."""
    n = len(instance.institutions)
    reasons = Counter(
        rule for j in range(n) if j != i and (rule := removal_reason(instance, i, j)) is not None
    )
    parts = [f"{count} {RULE_WORDS[rule]}" for rule, count in reasons.most_common()]
    return "; ".join(parts), list(reasons)


# ---------------------------------------------------------------- pairs mode


def unique_required(instance: MatchingInstance) -> list[tuple[str, str]]:
    """The required pairs, each unordered pair once (a pair may be listed twice)."""
    seen: set[frozenset[str]] = set()
    out = []
    for a, b in instance.rules.required:
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            out.append((a, b))
    return out


def pairs_conflicts(instance: MatchingInstance, cands: Candidates) -> list[Explanation]:
    """Infeasibility that is visible without solving: required pairs and minimum partners."""
    ids = cands.ids
    position = {x: k for k, x in enumerate(ids)}
    out: list[Explanation] = []
    required_count: Counter[str] = Counter()
    for a, b in unique_required(instance):
        i, j = position[a], position[b]
        required_count[a] += 1
        required_count[b] += 1
        if cands.index(i, j) is None:
            rule = removal_reason(instance, i, j) or "not_scored"
            out.append(
                Explanation(
                    subject=f"{a}–{b}",
                    code="required_not_candidate",
                    detail=(
                        f"the required pair ({a}, {b}) is not a candidate: {RULE_WORDS[rule]} "
                        f"(rules.{rule if rule != 'not_scored' else 'required'})"
                    ),
                    related=[a, b],
                )
            )
    for inst in instance.institutions:
        if required_count[inst.id] > inst.capacity:
            out.append(
                Explanation(
                    subject=inst.id,
                    code="required_over_capacity",
                    detail=(
                        f"{inst.id} is in {required_count[inst.id]} required pairs but its "
                        f"capacity is {inst.capacity}"
                    ),
                )
            )
    by_node = incidence(cands, len(ids))
    for i, inst in enumerate(instance.institutions):
        if inst.min_partners > len(by_node[i]):
            summary, _ = _rule_summary(instance, i)
            out.append(
                Explanation(
                    subject=inst.id,
                    code="min_partners_unreachable",
                    detail=(
                        f"{inst.id} needs {inst.min_partners} partners but has only "
                        f"{len(by_node[i])} candidate pairs"
                        + (f"; pairs removed: {summary}" if summary else "")
                    ),
                )
            )
    return out


def pairs_infeasibility_by_relaxation(
    instance: MatchingInstance, cands: Candidates, context: SolveContext
) -> list[Explanation]:
    """The fewest min_partners / required constraints whose relaxation restores feasibility."""
    import pulp

    from optimizer.core.mip import solve_pulp

    ids = cands.ids
    n = len(ids)
    position = {x: k for k, x in enumerate(ids)}
    problem = pulp.LpProblem("pairs_relaxed", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x{k}", cat=pulp.LpBinary) for k in range(len(cands))]
    short = {}
    for i, ks in enumerate(incidence(cands, n)):
        inst = instance.institutions[i]
        degree = pulp.lpSum(x[k] for k in ks)
        problem += degree <= inst.capacity
        if inst.min_partners:
            short[i] = pulp.LpVariable(f"short{i}", lowBound=0, cat=pulp.LpInteger)
            problem += degree + short[i] >= inst.min_partners
    dropped = {}
    for a, b in unique_required(instance):
        k = cands.index(position[a], position[b])
        if k is not None:
            dropped[(a, b)] = 1 - x[k]
    problem += pulp.lpSum(short.values()) + pulp.lpSum(dropped.values())
    result = solve_pulp(problem, "highs", context)
    if not result.has_solution:
        return [
            Explanation(
                subject=instance.name or "instance",
                code="infeasible",
                detail="no selection of pairs satisfies capacity, min_partners and required pairs",
            )
        ]
    out = []
    for (a, b), expr in dropped.items():
        if pulp.value(expr) > 0.5:
            out.append(
                Explanation(
                    subject=f"{a}–{b}",
                    code="required_pair_conflict",
                    detail=(
                        f"the required pair ({a}, {b}) cannot hold together with the other "
                        "required pairs and minimum partner counts within capacities"
                    ),
                    related=[a, b],
                )
            )
    for i, var in short.items():
        missing = round(var.value() or 0)
        if missing:
            inst = instance.institutions[i]
            out.append(
                Explanation(
                    subject=inst.id,
                    code="min_partners_conflict",
                    detail=(
                        f"{inst.id} can reach only {inst.min_partners - missing} of its "
                        f"{inst.min_partners} minimum partners: its candidate partners' "
                        "capacities are taken by other required or minimum pairings"
                    ),
                )
            )
    return out


def unmatched(
    instance: MatchingInstance,
    cands: Candidates,
    selected: list[int],
    unmatched_ids: list[str],
    rule_notes: dict[str, str] | None = None,
) -> list[Explanation]:
    """A reason for every unmatched institution. ``rule_notes`` (with side rules): per
    institution, what the plan without those rules does with it, ending the reasons that
    depend on the plan (``not_selected``, ``partners_taken``)."""
    ids = cands.ids
    position = {x: k for k, x in enumerate(ids)}
    by_node = incidence(cands, len(ids))
    chosen = set(selected)
    required = {frozenset(p) for p in instance.rules.required}
    degree: Counter[int] = Counter()
    partners: dict[int, list[int]] = {}
    for k in selected:
        i, j = int(cands.a[k]), int(cands.b[k])
        degree[i] += 1
        degree[j] += 1
        partners.setdefault(i, []).append(k)
        partners.setdefault(j, []).append(k)
    side_note = ""
    if instance.fairness.active or instance.stability != "report":
        # The side rules shape the plan too; name them rather than the total alone.
        side_note = (
            " (the plan also meets the fairness and stability rules, which may leave it out)"
        )
    out = []
    for x in unmatched_ids:
        if rule_notes and x in rule_notes:
            side_note = rule_notes[x]
        i = position[x]
        inst = instance.institutions[i]
        if inst.capacity == 0:
            out.append(Explanation(subject=x, code="capacity_zero", detail=f"{x} has capacity 0"))
            continue
        if not by_node[i]:
            summary, _ = _rule_summary(instance, i)
            out.append(
                Explanation(
                    subject=x,
                    code="no_candidate",
                    detail=f"{x} has no candidate partner; its pairs were removed as: {summary}",
                )
            )
            continue
        # Candidates exist: name who holds each candidate partner's capacity.
        held, free = [], []
        for k in sorted(by_node[i], key=lambda k: -cands.score[k]):
            j = int(cands.b[k]) if int(cands.a[k]) == i else int(cands.a[k])
            other = instance.institutions[j]
            if degree[j] >= other.capacity:
                rivals = []
                for r in partners.get(j, []):
                    p = int(cands.b[r]) if int(cands.a[r]) == j else int(cands.a[r])
                    tag = " required" if frozenset((ids[j], ids[p])) in required else ""
                    rivals.append(f"{ids[p]} {cands.score[r]:.3f}{tag}")
                held.append((ids[j], float(cands.score[k]), rivals))
            elif k not in chosen:
                free.append((ids[j], float(cands.score[k])))
        if free:
            names = ", ".join(f"{j} ({s:.3f})" for j, s in free[:5])
            out.append(
                Explanation(
                    subject=x,
                    code="not_selected",
                    detail=(
                        f"{x} could still pair with {names}; pairing it does not improve the "
                        "total (non-positive gain) or the search stopped before it" + side_note
                    ),
                    related=[j for j, _ in free[:5]],
                )
            )
            continue
        parts = [
            f"{j} (would score {s:.3f}; taken by {', '.join(r) or 'capacity 0'})"
            for j, s, r in held[:5]
        ]
        more = f" and {len(held) - 5} more" if len(held) > 5 else ""
        whom = (
            f"the only candidate partner of {x} is"
            if len(held) == 1
            else f"all {len(held)} candidate partners of {x} are"
        )
        out.append(
            Explanation(
                subject=x,
                code="partners_taken",
                detail=(
                    f"{whom} at capacity in pairs that are required or give a higher total: "
                    f"{'; '.join(parts)}{more}{side_note}"
                ),
                related=[j for j, _, _ in held],
            )
        )
    return out


# ---------------------------------------------------------------- groups mode


def _region_members(instance: MatchingInstance) -> dict[str | None, list[int]]:
    out: dict[str | None, list[int]] = {}
    for i, inst in enumerate(instance.institutions):
        out.setdefault(inst.region, []).append(i)
    return out


def _why_no_group(instance: MatchingInstance, i: int) -> str | None:
    """A rule that leaves institution i without any possible group, if one is evident."""
    group = instance.group
    inst = instance.institutions[i]
    insts = instance.institutions
    forbidden = {frozenset(p) for p in instance.rules.forbidden}
    pool = [j for j in range(len(insts)) if j != i]
    if group.same_region:
        if inst.region is None:
            return f"{inst.id} has no region but group.same_region is set"
        pool = [j for j in pool if insts[j].region == inst.region]
        if len(pool) + 1 < group.min_size:
            return (
                f"region {inst.region} has {len(pool) + 1} institutions, fewer than "
                f"group.min_size = {group.min_size}"
            )
    allowed = [j for j in pool if frozenset((inst.id, insts[j].id)) not in forbidden]
    if len(allowed) + 1 < group.min_size:
        return (
            f"forbidden pairs leave {inst.id} only {len(allowed)} possible partners, "
            f"fewer than group.min_size - 1 = {group.min_size - 1}"
        )
    hubs = sum(insts[j].hub for j in allowed) + int(inst.hub)
    if hubs < group.min_hubs:
        where = f" in region {inst.region}" if group.same_region else ""
        return (
            f"only {hubs} hub institutions{where} can share a group with {inst.id}, fewer than "
            f"group.min_hubs = {group.min_hubs}"
        )
    return None


def groups_conflicts(instance: MatchingInstance) -> list[Explanation]:
    """Infeasibility visible without solving: required pairs that are also forbidden, etc."""
    out = []
    forbidden = {frozenset(p) for p in instance.rules.forbidden}
    ids = {x.id: k for k, x in enumerate(instance.institutions)}
    # In groups mode a required pair only has to share a group; it need not be a candidate
    # (a non-candidate pair inside a group simply adds 0).
    for a, b in unique_required(instance):
        if frozenset((a, b)) in forbidden:
            out.append(
                Explanation(
                    subject=f"{a}–{b}",
                    code="required_and_forbidden",
                    detail=f"the pair ({a}, {b}) is both required and forbidden",
                    related=[a, b],
                )
            )
        group = instance.group
        ra, rb = instance.institutions[ids[a]].region, instance.institutions[ids[b]].region
        if group.same_region and (ra is None or ra != rb):
            out.append(
                Explanation(
                    subject=f"{a}–{b}",
                    code="required_across_regions",
                    detail=(
                        f"the required pair ({a}, {b}) spans regions {ra} and {rb} but "
                        "group.same_region is set"
                    ),
                    related=[a, b],
                )
            )
    must = set()
    if instance.group.cover_all:
        must = set(range(len(instance.institutions)))
    for a, b in instance.rules.required:
        must |= {ids[a], ids[b]}
    for i in sorted(must):
        reason = _why_no_group(instance, i)
        if reason:
            rule = "group.cover_all" if instance.group.cover_all else "rules.required"
            out.append(
                Explanation(
                    subject=instance.institutions[i].id,
                    code="cannot_be_grouped",
                    detail=f"{rule} needs {instance.institutions[i].id} in a group, but {reason}",
                )
            )
    return out


def groups_infeasibility(instance: MatchingInstance) -> list[Explanation]:
    """Explain a proven-infeasible groups instance by its coverage rules and sizes."""
    n = len(instance.institutions)
    group = instance.group
    out = []
    if group.cover_all:
        sizes = [len(v) for k, v in _region_members(instance).items()] if group.same_region else [n]
        for size in sizes:
            lo = -(-size // group.max_size)
            if lo * group.min_size > size:
                out.append(
                    Explanation(
                        subject=instance.name or "instance",
                        code="sizes_cannot_partition",
                        detail=(
                            f"group.cover_all: {size} institutions cannot be split into groups "
                            f"of {group.min_size}..{group.max_size}"
                        ),
                    )
                )
    required = ", ".join(f"({a}, {b})" for a, b in instance.rules.required)
    out.append(
        Explanation(
            subject=instance.name or "instance",
            code="coverage_conflict",
            detail=(
                "no set of disjoint groups satisfies group sizes, hubs, regions and forbidden "
                "pairs while covering "
                + ("every institution (group.cover_all)" if group.cover_all else "")
                + (" and " if group.cover_all and required else "")
                + (f"the required pairs {required}" if required else "")
            ),
        )
    )
    return out


def _places_limit(instance: MatchingInstance, groups: list[dict]) -> str | None:
    """When every place the rules allow is taken, say which rule caps the places."""
    group = instance.group
    if not group.min_hubs:
        return None
    hubs = sum(inst.hub for inst in instance.institutions)
    most_groups = hubs // group.min_hubs
    places = most_groups * group.max_size
    filled = sum(len(g["members"]) for g in groups)
    if len(groups) < most_groups or filled < places:
        return None
    return (
        f"every place is taken: with {hubs} hubs and group.min_hubs = {group.min_hubs} at most "
        f"{most_groups} groups of up to {group.max_size} can form, {places} places for "
        f"{len(instance.institutions)} institutions"
    )


def ungrouped(
    instance: MatchingInstance, cands: Candidates, groups: list[dict], ungrouped_ids: list[str]
) -> list[Explanation]:
    """A reason for every institution left out of all groups."""
    position = {x: k for k, x in enumerate(cands.ids)}
    by_node = incidence(cands, len(cands.ids))
    group_of = {m: g for g in groups for m in g["members"]}
    full = {g["id"] for g in groups if len(g["members"]) >= instance.group.max_size}
    places = _places_limit(instance, groups)
    out = []
    for x in ungrouped_ids:
        i = position[x]
        reason = _why_no_group(instance, i)
        if reason:
            out.append(Explanation(subject=x, code="no_feasible_group", detail=reason))
            continue
        if not by_node[i]:
            summary, _ = _rule_summary(instance, i)
            out.append(
                Explanation(
                    subject=x,
                    code="no_candidate",
                    detail=(
                        f"{x} has no candidate partner, so joining any group adds nothing; "
                        f"its pairs were removed as: {summary}"
                    ),
                )
            )
            continue
        positive = [k for k in by_node[i] if cands.score[k] > 0]
        if not positive:
            summary, _ = _rule_summary(instance, i)
            out.append(
                Explanation(
                    subject=x,
                    code="no_gain",
                    detail=(
                        f"{x} has no candidate pair with a positive score, so joining any "
                        "group adds nothing"
                        + (f"; other pairs removed as: {summary}" if summary else "")
                    ),
                )
            )
            continue
        holders: dict[str, float] = {}
        for k in positive:
            j = int(cands.b[k]) if int(cands.a[k]) == i else int(cands.a[k])
            g = group_of.get(cands.ids[j])
            if g is not None:
                holders[g["id"]] = holders.get(g["id"], 0.0) + float(cands.score[k])
        if holders:
            named = ", ".join(
                f"{gid}{' (full)' if gid in full else ''}: its partners there would add {s:.3f}"
                for gid, s in sorted(holders.items(), key=lambda t: -t[1])[:5]
            )
            why = places or (
                "each is full, or taking it in would cost the group more than it adds"
                if all(gid in full for gid in holders)
                else "taking it in, or swapping it for a member, would lower the total"
            )
            out.append(
                Explanation(
                    subject=x,
                    code="groups_better_without",
                    detail=(
                        f"the groups holding {x}'s candidate partners score more as they are "
                        f"({why}): {named}"
                    ),
                    related=list(holders),
                )
            )
        else:
            out.append(
                Explanation(
                    subject=x,
                    code="no_viable_group",
                    detail=(
                        f"{x}'s candidate partners are ungrouped too, and no group with them "
                        "satisfies the size, hub and region rules at a positive total"
                    ),
                )
            )
    return out
