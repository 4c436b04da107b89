"""Instance builders and independent oracles for the matching tests.

The oracles read the instance *document* (plain dicts, as a planner writes it) and apply the
contract text of FORMATS section 3 directly. They import nothing from ``optimizer.matching``,
so a bug in the candidate builder, the score vectorisation, the model or the verifier cannot
hide in them.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from typing import Any

from optimizer.core.envelope import Options, Solution, Status
from optimizer.matching import MatchingInstance, solve

TOL = 1e-6
BACKENDS = ("highs", "cbc", "cp-sat")
REGIONS = ("Sichuan", "Chongqing", "Yunnan")

# Tests run next to other work on a small machine: one thread, a short limit.
TEST_OPTIONS: dict[str, Any] = {"time_limit_s": 10, "threads": 1}

INSTITUTION_DEFAULTS: dict[str, Any] = {
    "type": "university",
    "region": None,
    "zone": None,
    "location": None,
    "strengths": {},
    "needs": {},
    "capacity": 1,
    "min_partners": 0,
    "hub": False,
}
WEIGHT_DEFAULTS = {
    "need": 1.0,
    "complementarity": 0.5,
    "distance_per_1000km": 0.2,
    "cross_zone_bonus": 0.0,
}
RULE_DEFAULTS: dict[str, Any] = {
    "allowed_zone_pairs": None,
    "allowed_type_pairs": None,
    "same_region": False,
    "max_distance_km": None,
    "min_score": 0.0,
    "forbidden": [],
    "required": [],
}
GROUP_DEFAULTS: dict[str, Any] = {
    "min_size": 2,
    "max_size": 4,
    "min_hubs": 0,
    "same_region": False,
    "cover_all": False,
}


# ------------------------------------------------------------------ solving


def solve_doc(doc: dict[str, Any], solver: str = "auto", **options: Any) -> Solution:
    """Validate ``doc`` and solve it with the test options (plus ``options``)."""
    instance = MatchingInstance.model_validate(doc)
    merged = instance.options.merged({**TEST_OPTIONS, "solver": solver, **options})
    return solve(instance, merged)


def assert_verified(solution: Solution) -> None:
    """A solved status whose solution the independent verifier accepted."""
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE), (
        solution.status,
        solution.verification.violations,
        [e.detail for e in solution.explanations],
    )
    assert solution.verification.checked and solution.verification.valid, (
        solution.verification.violations
    )


def pair_set(solution: Solution) -> set[frozenset[str]]:
    assert solution.solution is not None
    return {frozenset((p["a"], p["b"])) for p in solution.solution["pairs"]}


def group_set(solution: Solution) -> set[frozenset[str]]:
    assert solution.solution is not None
    return {frozenset(g["members"]) for g in solution.solution["groups"]}


def explanation_by_subject(solution: Solution) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for e in solution.explanations:
        out.setdefault(e.subject, []).append(e)
    return out


def default_options() -> Options:
    return Options(**TEST_OPTIONS)


# ------------------------------------------------------------------ tiny hand-written instances


def P(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


def matching(
    institutions: list[Any], scores: dict[str, float] | None = None, **fields: Any
) -> dict[str, Any]:
    """A pairs document; ``scores`` maps "a-b" to a score."""
    doc: dict[str, Any] = {
        "kind": "matching",
        "mode": "pairs",
        "institutions": [{"id": x} if isinstance(x, str) else x for x in institutions],
        **fields,
    }
    if scores is not None:
        doc["scores"] = [
            {"a": k.split("-")[0], "b": k.split("-")[1], "score": v} for k, v in scores.items()
        ]
    return doc


def groups(institutions: list[Any], scores: dict[str, float], **group: Any) -> dict[str, Any]:
    doc = matching(institutions, scores, mode="groups")
    doc["group"] = group
    return doc


def with_rules(doc: dict[str, Any], **rules: Any) -> dict[str, Any]:
    return {**doc, "rules": {**doc.get("rules", {}), **rules}}


def set_inst(doc: dict[str, Any], which: str, **values: Any) -> dict[str, Any]:
    institutions = [{**x, **values} if x["id"] == which else x for x in doc["institutions"]]
    return {**doc, "institutions": institutions}


CHAIN = matching(["a", "b", "c"], {"a-b": 5, "b-c": 1})
"""The best pair takes b, leaving c alone: the smallest instance where rules change things."""


# ------------------------------------------------------------------ the contract, directly


def institutions_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**INSTITUTION_DEFAULTS, **x} for x in doc["institutions"]]


def great_circle_km(a: dict[str, float], b: dict[str, float]) -> float:
    """Central angle by the atan2 (Vincenty, sphere) form, radius 6371 km.

    A different formula from the haversine the service uses, so the two check each other.
    """
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dl = math.radians(b["lon"] - a["lon"])
    y = math.hypot(
        math.cos(p2) * math.sin(dl),
        math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl),
    )
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.atan2(y, x)


def complementarity(sa: dict[str, float], sb: dict[str, float]) -> float:
    """1 - cos(s_a, s_b); 0 when either vector is all zero.

    Parallel vectors are detected in exact rational arithmetic, so identical profiles give
    exactly 0 rather than a round-off residue.
    """
    keys = set(sa) | set(sb)
    dot = sum(Fraction(sa.get(d, 0.0)) * Fraction(sb.get(d, 0.0)) for d in keys)
    na2 = sum(Fraction(v) ** 2 for v in sa.values())
    nb2 = sum(Fraction(v) ** 2 for v in sb.values())
    if na2 == 0 or nb2 == 0:
        return 0.0
    cos2 = dot * dot / (na2 * nb2)
    if cos2 >= 1:
        return 0.0
    return 1.0 - math.sqrt(float(cos2))


def formula_terms(doc: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """need, complementarity, distance (thousands of km), bonus and the weighted score."""
    w = {**WEIGHT_DEFAULTS, **doc.get("weights", {})}
    sa, sb, na, nb = a["strengths"], b["strengths"], a["needs"], b["needs"]
    disciplines = set(sa) | set(sb) | set(na) | set(nb)
    need = sum(
        na.get(d, 0.0) * max(0.0, sb.get(d, 0.0) - sa.get(d, 0.0))
        + nb.get(d, 0.0) * max(0.0, sa.get(d, 0.0) - sb.get(d, 0.0))
        for d in disciplines
    )
    compl = complementarity(sa, sb)
    both = a["location"] is not None and b["location"] is not None
    distance = great_circle_km(a["location"], b["location"]) / 1000.0 if both else 0.0
    zones_differ = a["zone"] is not None and b["zone"] is not None and a["zone"] != b["zone"]
    bonus = w["cross_zone_bonus"] if zones_differ else 0.0
    score = (
        w["need"] * need
        + w["complementarity"] * compl
        - w["distance_per_1000km"] * distance
        + bonus
    )
    return {
        "need": need,
        "complementarity": compl,
        "distance": distance,
        "bonus": bonus,
        "score": score,
    }


def contract_candidates(doc: dict[str, Any]) -> dict[frozenset[str], float]:
    """Every candidate pair with its score, exactly as the contract's candidate rules say."""
    insts = institutions_of(doc)
    by_id = {x["id"]: x for x in insts}
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    if doc.get("scores") is not None:
        raw = {frozenset((s["a"], s["b"])): float(s["score"]) for s in doc["scores"]}
    else:
        raw = {
            frozenset((a["id"], b["id"])): formula_terms(doc, a, b)["score"]
            for a, b in itertools.combinations(insts, 2)
        }
    zone_pairs = (
        None
        if rules["allowed_zone_pairs"] is None
        else {frozenset(p) for p in rules["allowed_zone_pairs"]}
    )
    type_pairs = (
        None
        if rules["allowed_type_pairs"] is None
        else {frozenset(p) for p in rules["allowed_type_pairs"]}
    )
    forbidden = {frozenset(p) for p in rules["forbidden"]}
    out = {}
    for pair, score in raw.items():
        a, b = (by_id[x] for x in sorted(pair))
        if zone_pairs is not None and frozenset((a["zone"], b["zone"])) not in zone_pairs:
            continue
        if type_pairs is not None and frozenset((a["type"], b["type"])) not in type_pairs:
            continue
        if rules["same_region"] and (a["region"] is None or a["region"] != b["region"]):
            continue
        if rules["max_distance_km"] is not None:
            if a["location"] is None or b["location"] is None:
                continue
            if great_circle_km(a["location"], b["location"]) > rules["max_distance_km"]:
                continue
        if not score > rules["min_score"]:
            continue
        if pair in forbidden:
            continue
        out[pair] = score
    return out


# ------------------------------------------------------------------ brute force


def brute_force_pairs(doc: dict[str, Any]) -> tuple[float, list[frozenset[str]]] | None:
    """The best feasible selection of candidate pairs by enumeration, or None if none exists."""
    insts = institutions_of(doc)
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    cands = contract_candidates(doc)
    required = {frozenset(p) for p in rules["required"]}
    if not required <= set(cands):
        return None
    capacity = {x["id"]: x["capacity"] for x in insts}
    minimum = {x["id"]: x["min_partners"] for x in insts}
    degree = dict.fromkeys(capacity, 0)
    for pair in required:
        for x in pair:
            degree[x] += 1
    if any(degree[x] > capacity[x] for x in degree):
        return None
    free = sorted((p for p in cands if p not in required), key=sorted)
    scores = [cands[p] for p in free]
    # optimistic completion value from position k onwards
    tail = [0.0] * (len(free) + 1)
    for k in range(len(free) - 1, -1, -1):
        tail[k] = tail[k + 1] + max(0.0, scores[k])
    base = sum(cands[p] for p in required)
    best: list[Any] = [None, None]
    chosen: list[frozenset[str]] = []

    def search(k: int, value: float) -> None:
        if best[0] is not None and value + tail[k] <= best[0] + 1e-12:
            return
        if k == len(free):
            if all(degree[x] >= minimum[x] for x in degree):
                best[0], best[1] = value, list(chosen)
            return
        pair = free[k]
        a, b = sorted(pair)
        if degree[a] < capacity[a] and degree[b] < capacity[b]:
            degree[a] += 1
            degree[b] += 1
            chosen.append(pair)
            search(k + 1, value + scores[k])
            chosen.pop()
            degree[a] -= 1
            degree[b] -= 1
        search(k + 1, value)

    search(0, base)
    if best[0] is None:
        return None
    return best[0], sorted(required, key=sorted) + best[1]


def group_rules(
    doc: dict[str, Any],
) -> tuple[Callable[[tuple[str, ...]], bool], Callable[[tuple[str, ...]], float], bool, set[str]]:
    """The contract's group rules as plain functions: whether members form a valid group,
    its score, whether every institution must be grouped, and who is in a required pair."""
    insts = institutions_of(doc)
    by_id = {x["id"]: x for x in insts}
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    group = {**GROUP_DEFAULTS, **doc.get("group", {})}
    cands = contract_candidates(doc)
    forbidden = {frozenset(p) for p in rules["forbidden"]}
    required = [tuple(p) for p in rules["required"]]
    in_required = {x for p in required for x in p}

    def valid(members: tuple[str, ...]) -> bool:
        if not group["min_size"] <= len(members) <= group["max_size"]:
            return False
        if sum(by_id[m]["hub"] for m in members) < group["min_hubs"]:
            return False
        if group["same_region"]:
            regions = {by_id[m]["region"] for m in members}
            if len(regions) != 1 or None in regions:
                return False
        if any(frozenset(p) in forbidden for p in itertools.combinations(members, 2)):
            return False
        inside = set(members)
        return all((a in inside) == (b in inside) for a, b in required)

    def score(members: tuple[str, ...]) -> float:
        return sum(cands.get(frozenset(p), 0.0) for p in itertools.combinations(members, 2))

    return valid, score, group["cover_all"], in_required


def brute_force_groups(
    doc: dict[str, Any],
) -> tuple[float, list[frozenset[str]]] | None:
    """The best set of disjoint groups by enumeration, or None when no grouping is feasible."""
    insts = institutions_of(doc)
    group = {**GROUP_DEFAULTS, **doc.get("group", {})}
    valid, score, _, in_required = group_rules(doc)

    @cache
    def best(remaining: tuple[str, ...]) -> tuple[float, tuple[tuple[str, ...], ...]] | None:
        if not remaining:
            return 0.0, ()
        first, rest = remaining[0], remaining[1:]
        options = []
        if not group["cover_all"] and first not in in_required:
            sub = best(rest)
            if sub is not None:
                options.append(sub)
        for size in range(group["min_size"], group["max_size"] + 1):
            for others in itertools.combinations(rest, size - 1):
                members = (first, *others)
                if not valid(members):
                    continue
                left = tuple(x for x in rest if x not in others)
                sub = best(left)
                if sub is not None:
                    options.append((sub[0] + score(members), (members, *sub[1])))
        return max(options, key=lambda t: t[0]) if options else None

    found = best(tuple(x["id"] for x in insts))
    if found is None:
        return None
    return found[0], [frozenset(g) for g in found[1]]


# ------------------------------------------------------------------ random instances


def ids(n: int) -> list[str]:
    return [f"u{k:02d}" for k in range(n)]


def random_scored_pairs(
    rng: random.Random, n: int, density: float, low: float = 0.01, high: float = 10.0
) -> list[dict[str, Any]]:
    """Explicit scores on a random graph (each pair kept with probability ``density``)."""
    names = ids(n)
    return [
        {"a": a, "b": b, "score": rng.uniform(low, high)}
        for a, b in itertools.combinations(names, 2)
        if rng.random() < density
    ]


def random_capacitated_doc(
    rng: random.Random, n: int, max_edges: int = 16, max_capacity: int = 3
) -> dict[str, Any]:
    """Small pairing with capacities 0-3, min_partners, required and forbidden pairs."""
    names = ids(n)
    all_pairs = list(itertools.combinations(names, 2))
    edges = rng.sample(all_pairs, min(len(all_pairs), rng.randint(n, max_edges)))
    scores = [
        {"a": a, "b": b, "score": round(rng.uniform(-1.0, 9.0), rng.choice([0, 2, 6]))}
        for a, b in edges
    ]
    institutions = []
    for x in names:
        capacity = rng.choices([0, 1, 2, 3], weights=[1, 5, 3, 2])[0]
        capacity = min(capacity, max_capacity)
        minimum = rng.randint(0, capacity) if rng.random() < 0.12 else 0
        institutions.append({"id": x, "capacity": capacity, "min_partners": minimum})
    forbidden = [list(p) for p in rng.sample(all_pairs, rng.randint(0, 2))]
    required_pool = edges if rng.random() < 0.85 else all_pairs
    count = rng.choices([0, 1, 2], weights=[3, 2, 1])[0]
    required = [list(p) for p in rng.sample(required_pool, count)]
    rules: dict[str, Any] = {"forbidden": forbidden, "required": required}
    if rng.random() < 0.3:
        rules["min_score"] = rng.choice([-0.5, 1.0, 3.0])
    return {
        "kind": "matching",
        "mode": "pairs",
        "institutions": institutions,
        "scores": scores,
        "rules": rules,
    }


def random_groups_doc(
    rng: random.Random, n: int, decimals: tuple[int, ...] = (1, 3, 6)
) -> dict[str, Any]:
    """Small consortium instance: sizes, hubs, regions, cover_all, forbidden/required."""
    names = ids(n)
    all_pairs = list(itertools.combinations(names, 2))
    density = rng.choice([0.4, 0.7, 1.0])
    scores = [
        {"a": a, "b": b, "score": round(rng.uniform(-2.0, 10.0), rng.choice(decimals))}
        for a, b in all_pairs
        if rng.random() < density
    ]
    institutions = [
        {
            "id": x,
            "hub": rng.random() < 0.35,
            "region": rng.choice(REGIONS[: rng.randint(1, 3)]),
        }
        for x in names
    ]
    min_size = rng.randint(1, 3)
    max_size = rng.randint(max(min_size, 2), 4)
    group = {
        "min_size": min_size,
        "max_size": max_size,
        "min_hubs": rng.choices([0, 1, 2], weights=[3, 2, 1])[0],
        "same_region": rng.random() < 0.35,
        "cover_all": rng.random() < 0.35,
    }
    rules: dict[str, Any] = {
        "forbidden": [list(p) for p in rng.sample(all_pairs, rng.randint(0, 3))],
        "required": [list(p) for p in rng.sample(all_pairs, rng.randint(0, 2))],
    }
    if rng.random() < 0.2:
        rules["min_score"] = 2.0
    return {
        "kind": "matching",
        "mode": "groups",
        "institutions": institutions,
        "scores": scores,
        "rules": rules,
        "group": group,
    }


def random_profiles(rng: random.Random, n: int, disciplines: int = 6) -> list[dict[str, Any]]:
    """Institutions with strengths, needs, zones and locations in western/eastern China."""
    names = ids(n)
    fields = [f"d{k}" for k in range(disciplines)]
    out = []
    for x in names:
        west = rng.random() < 0.5
        out.append(
            {
                "id": x,
                "zone": "west" if west else "east",
                "region": rng.choice(REGIONS),
                "location": {
                    "lat": rng.uniform(22.0, 44.0),
                    "lon": rng.uniform(86.0, 108.0) if west else rng.uniform(110.0, 122.0),
                },
                "strengths": {d: rng.random() for d in rng.sample(fields, rng.randint(0, 4))},
                "needs": {d: rng.random() for d in rng.sample(fields, rng.randint(0, 3))},
                "capacity": rng.randint(1, 2),
            }
        )
    return out


# ------------------------------------------------------------------ stability and fairness


def blocking_pairs_oracle(
    doc: dict[str, Any], chosen: list[frozenset[str]]
) -> dict[frozenset[str], tuple[float, float]]:
    """Every blocking pair of a plan with both sides' gains, from the contract's definition:
    an unselected candidate pair with a positive score that each side would rather have than
    its worst use of a slot (a free slot is worth 0; a required partner cannot be dropped)."""
    insts = {x["id"]: x for x in institutions_of(doc)}
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    required = {frozenset(p) for p in rules["required"]}
    cands = contract_candidates(doc)

    def worst(x: str) -> float:
        mine = [p for p in chosen if x in p]
        if len(mine) < insts[x]["capacity"]:
            return 0.0
        droppable = [cands[p] for p in mine if p not in required]
        return min(droppable) if droppable else math.inf

    out = {}
    for pair, score in cands.items():
        if pair in chosen or score <= 0:
            continue
        a, b = sorted(pair)
        if score > worst(a) and score > worst(b):
            out[pair] = (score - worst(a), score - worst(b))
    return out


def feasible_selections(doc: dict[str, Any]):
    """Every selection of candidate pairs that keeps capacities, min_partners and required
    pairs (tiny instances only)."""
    insts = institutions_of(doc)
    rules = {**RULE_DEFAULTS, **doc.get("rules", {})}
    cands = contract_candidates(doc)
    required = {frozenset(p) for p in rules["required"]}
    pairs = sorted(cands, key=sorted)
    for k in range(len(pairs) + 1):
        for chosen in itertools.combinations(pairs, k):
            degree = {x["id"]: 0 for x in insts}
            for pair in chosen:
                for x in pair:
                    degree[x] += 1
            if any(not x["min_partners"] <= degree[x["id"]] <= x["capacity"] for x in insts):
                continue
            if required <= set(chosen):
                yield list(chosen), sum(cands[p] for p in chosen)
