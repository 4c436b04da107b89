"""Independent check of a matching solution: every hard rule, and the objective recomputed.

Written from the contract alone, deliberately in plain Python and without importing the
model, the candidate builder or the score vectorisation, so a bug there cannot hide here.
"""

from __future__ import annotations

import math
from typing import Any

from optimizer.core.envelope import Verification
from optimizer.core.numbers import exact, exact_sum
from optimizer.matching.schema import Institution, MatchingInstance

TOLERANCE = 1e-6
PARALLEL_TOLERANCE = 1e-12
"""Complementarity below this is 0: the profiles are parallel (as in the candidate builder)."""


def _km(a: Institution, b: Institution) -> float | None:
    if a.location is None or b.location is None:
        return None
    lat1, lon1 = math.radians(a.location.lat), math.radians(a.location.lon)
    lat2, lon2 = math.radians(b.location.lat), math.radians(b.location.lon)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def formula_score(instance: MatchingInstance, a: Institution, b: Institution) -> float:
    """The contract's score formula, term by term."""
    w = instance.weights
    disciplines = set(a.strengths) | set(b.strengths) | set(a.needs) | set(b.needs)
    need = 0.0
    for d in disciplines:
        sa, sb = a.strengths.get(d, 0.0), b.strengths.get(d, 0.0)
        need += a.needs.get(d, 0.0) * max(0.0, sb - sa) + b.needs.get(d, 0.0) * max(0.0, sa - sb)
    dot = sum(a.strengths.get(d, 0.0) * b.strengths.get(d, 0.0) for d in disciplines)
    norm_a = math.sqrt(sum(v * v for v in a.strengths.values()))
    norm_b = math.sqrt(sum(v * v for v in b.strengths.values()))
    complementarity = 0.0 if norm_a == 0 or norm_b == 0 else 1.0 - dot / (norm_a * norm_b)
    if abs(complementarity) < PARALLEL_TOLERANCE:
        complementarity = 0.0  # parallel profiles: exactly 0, not a round-off residue
    km = _km(a, b)
    distance = 0.0 if km is None else km / 1000.0
    bonus = (
        w.cross_zone_bonus
        if a.zone is not None and b.zone is not None and a.zone != b.zone
        else 0.0
    )
    return (
        w.need * need
        + w.complementarity * complementarity
        - w.distance_per_1000km * distance
        + bonus
    )


class Rules:
    """The candidate rules, read straight from the contract, with lookups indexed once."""

    def __init__(self, instance: MatchingInstance):
        self.instance = instance
        self.listed = (
            None
            if instance.scores is None
            else {frozenset((s.a, s.b)): s.score for s in instance.scores}
        )
        rules = instance.rules
        self.zone_pairs = (
            None if rules.allowed_zone_pairs is None else [set(p) for p in rules.allowed_zone_pairs]
        )
        self.type_pairs = (
            None if rules.allowed_type_pairs is None else [set(p) for p in rules.allowed_type_pairs]
        )
        self.forbidden = {frozenset(p) for p in rules.forbidden}

    def candidate_score(self, a: Institution, b: Institution) -> float | None:
        """The pair's score if it is a candidate under the rules, else None."""
        rules = self.instance.rules
        if self.listed is not None:
            listed = self.listed.get(frozenset((a.id, b.id)))
            if listed is None:
                return None
            score = listed
        else:
            score = formula_score(self.instance, a, b)
        if self.zone_pairs is not None and {a.zone, b.zone} not in self.zone_pairs:
            return None
        if self.type_pairs is not None and {a.type, b.type} not in self.type_pairs:
            return None
        if rules.same_region and (a.region is None or a.region != b.region):
            return None
        if rules.max_distance_km is not None:
            km = _km(a, b)
            if km is None or km > rules.max_distance_km:
                return None
        if not score > rules.min_score:
            return None
        if frozenset((a.id, b.id)) in self.forbidden:
            return None
        return score


def verify(instance: MatchingInstance, solution: dict[str, Any]) -> Verification:
    if instance.periods is not None:
        return _verify_periods(instance, solution)
    if instance.mode == "pairs":
        return _verify_pairs(instance, solution)
    return _verify_groups(instance, solution)


def _verify_periods(instance: MatchingInstance, solution: dict[str, Any]) -> Verification:
    """A multi-year plan (5.4.4): each period is a one-period plan under that period's
    capacities, checked as such; then the periods named, ``unmatched`` over all periods,
    and the rule across periods."""
    periods = instance.periods
    assert periods is not None
    count = periods.count
    violations: list[str] = []
    pairs = solution.get("pairs", [])
    in_period: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for entry in pairs:
        t = entry.get("period")
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= count:
            violations.append(
                f"pair ({entry.get('a')}, {entry.get('b')}) has period {t!r}, not one of 1..{count}"
            )
            continue
        in_period[t - 1].append(entry)
    objectives = []
    for t in range(count):
        # Period t's view: its capacities, and min_partners capped by them (5.4.4).
        capacity = {
            x.id: periods.capacity.get(x.id, [x.capacity] * count)[t] for x in instance.institutions
        }
        view = instance.model_copy(
            update={
                "periods": None,
                "institutions": [
                    x.model_copy(
                        update={
                            "capacity": capacity[x.id],
                            "min_partners": min(x.min_partners, capacity[x.id]),
                        }
                    )
                    for x in instance.institutions
                ],
            }
        )
        # A period's unmatched institutions are not listed in the solution (only in the
        # KPIs): the one-period check is given the list its pairs imply.
        here = {x for entry in in_period[t] for x in (entry.get("a"), entry.get("b"))}
        implied = [x.id for x in instance.institutions if x.id not in here]
        report = _verify_pairs(view, {"pairs": in_period[t], "unmatched": implied})
        violations += [f"period {t + 1}: {v}" for v in report.violations]
        objectives.append(report.objective)
    anywhere = {x for entry in pairs for x in (entry.get("a"), entry.get("b"))}
    everyone = [x.id for x in instance.institutions]
    listed_all = solution.get("unmatched", [])
    if len(set(listed_all)) != len(listed_all) or set(listed_all) != set(everyone) - anywhere:
        violations.append(
            "the unmatched list does not match the institutions in no pair of any period"
        )
    violations += _rule_across_periods(periods.rule, periods.keep_at_least, count, in_period)
    objective = exact_sum([o for o in objectives if o is not None])
    return Verification(
        checked=True, valid=not violations, violations=violations, objective=objective
    )


def _rule_across_periods(
    rule: str, keep_at_least: int, count: int, in_period: list[list[dict[str, Any]]]
) -> list[str]:
    """Hard: ``new_partner`` -- no pair in two periods; ``keep`` -- each run of consecutive
    periods of a pair lasts ``keep_at_least`` periods unless it reaches the last one."""
    when: dict[tuple[str, str], list[int]] = {}
    for t, entries in enumerate(in_period, start=1):
        for entry in entries:
            key = tuple(sorted((str(entry["a"]), str(entry["b"]))))
            if t not in when.setdefault((key[0], key[1]), []):
                when[(key[0], key[1])].append(t)
    out = []
    for (a, b), ts in sorted(when.items()):
        if rule == "new_partner" and len(ts) > 1:
            shown = ", ".join(map(str, ts))
            out.append(f"pair ({a}, {b}) meets again in periods {shown} (rule new_partner)")
        if rule == "keep":
            runs: list[list[int]] = []
            for t in ts:
                if runs and runs[-1][-1] == t - 1:
                    runs[-1].append(t)
                else:
                    runs.append([t])
            for run in runs:
                if len(run) < keep_at_least and run[-1] != count:
                    out.append(
                        f"pair ({a}, {b}) is formed in period {run[0]} and kept {len(run)} "
                        f"periods, fewer than keep_at_least {keep_at_least}"
                    )
    return out


def _verify_pairs(instance: MatchingInstance, solution: dict[str, Any]) -> Verification:
    by_id = {x.id: x for x in instance.institutions}
    violations: list[str] = []
    degree = {x: 0 for x in by_id}
    seen: set[frozenset[str]] = set()
    scores: list[float] = []
    counted: list[tuple[frozenset[str], float]] = []  # each listed candidate pair, rescored
    candidates = Rules(instance)
    for entry in solution.get("pairs", []):
        a, b = entry["a"], entry["b"]
        if a not in by_id or b not in by_id:
            violations.append(f"pair ({a}, {b}) names an unknown institution")
            continue
        if a == b:
            violations.append(f"pair ({a}, {b}) pairs an institution with itself")
            continue
        key = frozenset((a, b))
        if key in seen:
            violations.append(f"pair ({a}, {b}) is selected twice")
        seen.add(key)
        score = candidates.candidate_score(by_id[a], by_id[b])
        if score is None:
            violations.append(f"pair ({a}, {b}) is not a candidate under the rules")
            continue
        if not abs(score - entry["score"]) <= TOLERANCE:  # "not <=" so that NaN fails too
            violations.append(f"pair ({a}, {b}) reports score {entry['score']}, not {score}")
        degree[a] += 1
        degree[b] += 1
        scores.append(score)
        counted.append((key, score))
    for x, inst in by_id.items():
        if degree[x] > inst.capacity:
            violations.append(f"{x} has {degree[x]} partners, above capacity {inst.capacity}")
        if degree[x] < inst.min_partners:
            violations.append(
                f"{x} has {degree[x]} partners, below min_partners {inst.min_partners}"
            )
    for a, b in instance.rules.required:
        if frozenset((a, b)) not in seen:
            violations.append(f"required pair ({a}, {b}) is not selected")
    listed = solution.get("unmatched", [])
    actual_unmatched = {x for x, d in degree.items() if d == 0}
    if len(set(listed)) != len(listed) or set(listed) != actual_unmatched:
        violations.append("the unmatched list does not match the institutions without a partner")
    violations += _fairness_minimums(instance, counted)
    objective = exact_sum(scores)
    if instance.stability != "report":
        blocking = _blocking(instance, candidates, counted)
        if instance.stability == "require":
            violations += [
                f"pair ({a}, {b}) blocks the plan: both would rather pair with each other "
                "(stability require)"
                for a, b in blocking
            ]
        else:
            objective = float(exact(objective) - exact(instance.stability_penalty) * len(blocking))
    return Verification(
        checked=True, valid=not violations, violations=violations, objective=objective
    )


def _fairness_minimums(
    instance: MatchingInstance, pairs: list[tuple[frozenset[str], float]]
) -> list[str]:
    """Hard: each fairness minimum, counted over the pairs as listed."""
    out = []
    for rule in instance.fairness.minimums:
        members = {x.id for x in instance.institutions if getattr(x, rule.by) == rule.group}
        matched = {x for pair, _ in pairs for x in pair if x in members}
        touching = sum(1 for pair, _ in pairs if pair & members)
        what = f"{rule.by} {rule.group}"
        if len(matched) < rule.matched:
            out.append(f"{what} has {len(matched)} matched members, fewer than {rule.matched}")
        if len(matched) < rule.share * len(members) - 1e-9:
            out.append(
                f"{what} has {len(matched)} of {len(members)} members matched, "
                f"below the share {rule.share:g}"
            )
        if touching < rule.pairs:
            out.append(f"{what} has {touching} pairs, fewer than {rule.pairs}")
    return out


def _blocking(
    instance: MatchingInstance, candidates: Rules, pairs: list[tuple[frozenset[str], float]]
) -> list[tuple[str, str]]:
    """The blocking pairs of the plan, as the contract defines them (5.4): an unselected
    candidate pair with a positive score above each side's worst use of a slot."""
    required = {frozenset(p) for p in instance.rules.required}
    partners: dict[str, list[float]] = {x.id: [] for x in instance.institutions}
    locked: dict[str, int] = {x.id: 0 for x in instance.institutions}
    for pair, score in pairs:
        for x in pair:
            if pair in required:
                locked[x] += 1
            else:
                partners[x].append(score)
    capacity = {x.id: x.capacity for x in instance.institutions}

    def worst(x: str) -> float:
        if locked[x] + len(partners[x]) < capacity[x]:
            return 0.0
        return min(partners[x], default=math.inf)

    chosen = {pair for pair, _ in pairs}
    insts = instance.institutions
    if candidates.listed is not None:
        by_id = {x.id: x for x in insts}
        looked = [tuple(sorted(p)) for p in candidates.listed]
        couples = [(by_id[a], by_id[b]) for a, b in looked if a != b]
    else:
        couples = [(a, b) for k, a in enumerate(insts) for b in insts[k + 1 :]]
    found = []
    for a, b in couples:
        if frozenset((a.id, b.id)) in chosen:
            continue
        rival = candidates.candidate_score(a, b)
        if rival is not None and rival > 0 and rival > worst(a.id) and rival > worst(b.id):
            found.append((a.id, b.id))
    return sorted(found)


def _verify_groups(instance: MatchingInstance, solution: dict[str, Any]) -> Verification:
    by_id = {x.id: x for x in instance.institutions}
    rules, group = instance.rules, instance.group
    violations: list[str] = []
    where: dict[str, str] = {}
    scores: list[float] = []
    candidates = Rules(instance)
    ids: set[str] = set()
    for g in solution.get("groups", []):
        members = g["members"]
        gid = g["id"]
        if gid in ids:
            violations.append(f"group id {gid} is used twice")
        ids.add(gid)
        if any(m not in by_id for m in members):
            violations.append(f"group {gid} names an unknown institution")
            continue
        for m in members:
            if m in where:
                violations.append(f"{m} is in groups {where[m]} and {gid}")
            where[m] = gid
        if not group.min_size <= len(members) <= group.max_size:
            violations.append(
                f"group {gid} has {len(members)} members, outside {group.min_size}..{group.max_size}"
            )
        hubs = sum(by_id[m].hub for m in members)
        if hubs < group.min_hubs:
            violations.append(f"group {gid} has {hubs} hubs, fewer than {group.min_hubs}")
        if group.same_region and len(members) > 1:
            regions = {by_id[m].region for m in members}
            if len(regions) != 1 or None in regions:
                violations.append(f"group {gid} spans regions {sorted(map(str, regions))}")
        score = 0.0
        for x, a in enumerate(members):
            for b in members[x + 1 :]:
                if frozenset((a, b)) in candidates.forbidden:
                    violations.append(f"group {gid} holds the forbidden pair ({a}, {b})")
                s = candidates.candidate_score(by_id[a], by_id[b])
                score += 0.0 if s is None else s
        if not abs(score - g["score"]) <= TOLERANCE * max(1.0, abs(score)):  # NaN fails too
            violations.append(f"group {gid} reports score {g['score']}, not {score}")
        scores.append(score)
    for a, b in rules.required:
        if a not in where or where.get(a) != where.get(b):
            violations.append(f"required pair ({a}, {b}) is not in one group")
    if group.cover_all:
        missing = [x for x in by_id if x not in where]
        if missing:
            violations.append(f"cover_all: {len(missing)} institutions are in no group")
    listed = solution.get("ungrouped", [])
    if len(set(listed)) != len(listed) or set(listed) != {x for x in by_id if x not in where}:
        violations.append("the ungrouped list does not match the institutions in no group")
    # A group is counted as a pair is: its members are matched, and it touches a region.
    together = [
        (frozenset(g["members"]), 0.0)
        for g in solution.get("groups", [])
        if all(m in by_id for m in g["members"])
    ]
    violations += _fairness_minimums(instance, together)
    return Verification(
        checked=True, valid=not violations, violations=violations, objective=exact_sum(scores)
    )
