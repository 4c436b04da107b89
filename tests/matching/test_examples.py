"""The shipped example instances under ``instances/matching/`` solve as their descriptions promise.

Every example must validate, carry a description, solve to proven optimality with a verified
solution, explain every institution it leaves out, and honour its required pairs. The checks
on pairs and groups recompute scores and rules from the document itself (contract section 3)
rather than trusting the solver's own report or its verifier.
"""

from __future__ import annotations

import json
import math
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Solution, Status
from tests.matching.helpers import blocking_pairs_oracle

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "instances" / "matching"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
OVERRIDES = {"time_limit_s": 20, "threads": 1}
TOL = 1e-6

WEIGHT_DEFAULTS = {
    "need": 1.0,
    "complementarity": 0.5,
    "distance_per_1000km": 0.2,
    "cross_zone_bonus": 0.0,
}


def _mode(path: Path) -> str:
    return json.loads(path.read_text(encoding="utf-8")).get("mode", "pairs")


def _each(paths: list[Path]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("path", paths, ids=[p.stem for p in paths])


example = _each(EXAMPLES)
pairs_example = _each([p for p in EXAMPLES if _mode(p) == "pairs"])
groups_example = _each([p for p in EXAMPLES if _mode(p) == "groups"])


@cache
def _document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _solved(path: Path) -> Solution:
    return solve_document(path.read_bytes(), overrides=OVERRIDES, default_name=path.stem)


def _institutions(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {inst["id"]: inst for inst in doc["institutions"]}


def _km(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if not a.get("location") or not b.get("location"):
        return None
    lat1, lon1 = (math.radians(a["location"][k]) for k in ("lat", "lon"))
    lat2, lon2 = (math.radians(b["location"][k]) for k in ("lat", "lon"))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _formula(doc: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> float:
    """The contract's score formula, written out term by term."""
    w = {**WEIGHT_DEFAULTS, **doc.get("weights", {})}
    sa, sb = a.get("strengths", {}), b.get("strengths", {})
    na, nb = a.get("needs", {}), b.get("needs", {})
    disciplines = set(sa) | set(sb) | set(na) | set(nb)
    need = sum(
        na.get(d, 0.0) * max(0.0, sb.get(d, 0.0) - sa.get(d, 0.0))
        + nb.get(d, 0.0) * max(0.0, sa.get(d, 0.0) - sb.get(d, 0.0))
        for d in disciplines
    )
    norm_a = math.sqrt(sum(v * v for v in sa.values()))
    norm_b = math.sqrt(sum(v * v for v in sb.values()))
    dot = sum(sa.get(d, 0.0) * sb.get(d, 0.0) for d in disciplines)
    complementarity = 0.0 if norm_a == 0 or norm_b == 0 else 1.0 - dot / (norm_a * norm_b)
    km = _km(a, b)
    za, zb = a.get("zone"), b.get("zone")
    bonus = w["cross_zone_bonus"] if za is not None and zb is not None and za != zb else 0.0
    return (
        w["need"] * need
        + w["complementarity"] * complementarity
        - w["distance_per_1000km"] * (0.0 if km is None else km / 1000.0)
        + bonus
    )


def _score(doc: dict[str, Any], a_id: str, b_id: str) -> float:
    if doc.get("scores") is not None:
        for entry in doc["scores"]:
            if {entry["a"], entry["b"]} == {a_id, b_id}:
                return entry["score"]
        raise AssertionError(f"({a_id}, {b_id}) has no listed score")
    insts = _institutions(doc)
    return _formula(doc, insts[a_id], insts[b_id])


def _is_candidate(doc: dict[str, Any], a_id: str, b_id: str) -> bool:
    """Whether the rules of the document keep the pair {a, b} as a candidate."""
    insts = _institutions(doc)
    a, b = insts[a_id], insts[b_id]
    rules = doc.get("rules", {})
    pair = {a_id, b_id}
    if doc.get("scores") is not None and not any({e["a"], e["b"]} == pair for e in doc["scores"]):
        return False
    if rules.get("allowed_zone_pairs") is not None:
        zones = {frozenset(z) for z in rules["allowed_zone_pairs"]}
        if frozenset((a.get("zone"), b.get("zone"))) not in zones:
            return False
    if rules.get("allowed_type_pairs") is not None:
        types = {frozenset(t) for t in rules["allowed_type_pairs"]}
        type_a, type_b = a.get("type", "university"), b.get("type", "university")
        if frozenset((type_a, type_b)) not in types:
            return False
    if rules.get("same_region") and (a.get("region") is None or a["region"] != b.get("region")):
        return False
    if rules.get("max_distance_km") is not None:
        km = _km(a, b)
        if km is None or km > rules["max_distance_km"]:
            return False
    if not _score(doc, a_id, b_id) > rules.get("min_score", 0.0):
        return False
    return pair not in [set(p) for p in rules.get("forbidden", [])]


def test_there_are_examples_of_both_modes() -> None:
    assert len(EXAMPLES) >= 3, f"expected the example instances under {EXAMPLES_DIR}"
    assert {_mode(p) for p in EXAMPLES} == {"pairs", "groups"}


@example
def test_example_validates_and_is_described(path: Path) -> None:
    parsed = parse_document(path.read_bytes(), default_name=path.stem)
    assert parsed.issues == []
    assert parsed.kind == "matching"
    description = _document(path).get("description")
    assert isinstance(description, str) and len(description.split()) >= 10
    assert _document(path).get("name")
    for inst in _document(path)["institutions"]:
        assert inst.get("name"), f"{inst['id']} has no English name"


@example
def test_example_solves_to_a_verified_optimum(path: Path) -> None:
    solution = _solved(path)
    assert solution.status == Status.OPTIMAL, (solution.status, solution.issues)
    assert solution.verification.checked
    assert solution.verification.valid, solution.verification.violations
    assert solution.objective is not None and solution.bound is not None
    assert abs(solution.objective - solution.bound) <= TOL * max(1.0, abs(solution.objective))


@example
def test_every_left_out_institution_is_explained(path: Path) -> None:
    doc, solution = _document(path), _solved(path)
    assert solution.solution is not None
    ids = [inst["id"] for inst in doc["institutions"]]
    if doc.get("mode", "pairs") == "pairs":
        placed = {x for p in solution.solution["pairs"] for x in (p["a"], p["b"])}
        left_out = solution.solution["unmatched"]
    else:
        placed = {m for g in solution.solution["groups"] for m in g["members"]}
        left_out = solution.solution["ungrouped"]
    assert sorted(left_out) == sorted(x for x in ids if x not in placed)
    explained = {e.subject for e in solution.explanations if e.detail.strip()}
    missing = [x for x in left_out if x not in explained]
    assert not missing, f"no explanation for {missing}"


@example
def test_required_pairs_are_in_the_solution(path: Path) -> None:
    doc, solution = _document(path), _solved(path)
    assert solution.solution is not None
    required = [set(p) for p in doc.get("rules", {}).get("required", [])]
    if doc.get("mode", "pairs") == "pairs":
        chosen = [{p["a"], p["b"]} for p in solution.solution["pairs"]]
        for pair in required:
            assert pair in chosen, f"required pair {sorted(pair)} not selected"
    else:
        groups = [set(g["members"]) for g in solution.solution["groups"]]
        for pair in required:
            assert any(pair <= g for g in groups), f"required pair {sorted(pair)} not grouped"


@pairs_example
def test_pairs_obey_the_rules_and_sum_to_the_objective(path: Path) -> None:
    doc, solution = _document(path), _solved(path)
    assert solution.solution is not None and solution.objective is not None
    pairs = solution.solution["pairs"]
    # A multi-year plan (contract 5.4.4) is one plan per period under that period's capacities.
    periods = doc.get("periods") or {"count": 1}
    count = periods["count"]
    seen: set[tuple[frozenset[str], int]] = set()
    degree = {t: dict.fromkeys(_institutions(doc), 0) for t in range(1, count + 1)}
    for p in pairs:
        key = (frozenset((p["a"], p["b"])), p.get("period", 1))
        assert len(key[0]) == 2 and key not in seen
        seen.add(key)
        assert _is_candidate(doc, p["a"], p["b"]), f"({p['a']}, {p['b']}) is not a candidate"
        assert p["score"] == pytest.approx(_score(doc, p["a"], p["b"]), abs=TOL)
        degree[key[1]][p["a"]] += 1
        degree[key[1]][p["b"]] += 1
    for t in range(1, count + 1):
        for inst in doc["institutions"]:
            own = inst.get("capacity", 1)
            capacity = periods.get("capacity", {}).get(inst["id"], [own] * count)[t - 1]
            least = min(inst.get("min_partners", 0), capacity)
            assert least <= degree[t][inst["id"]] <= capacity
    expected = sum(p["score"] for p in pairs)
    if "periods" not in doc:
        # Under stability penalise each blocking pair costs the penalty (contract 5.4).
        penalty = doc.get("stability_penalty", 0.1) if doc.get("stability") == "penalise" else 0
        blocking = blocking_pairs_oracle(doc, [pair for pair, _ in seen])
        assert solution.kpis["blocking_pairs"] == len(blocking)
        if doc.get("stability") == "require":
            assert blocking == {}
        expected -= penalty * len(blocking)
    assert solution.objective == pytest.approx(expected, abs=TOL)


@groups_example
def test_groups_obey_the_rules_and_sum_to_the_objective(path: Path) -> None:
    doc, solution = _document(path), _solved(path)
    assert solution.solution is not None and solution.objective is not None
    rules = {"min_size": 2, "max_size": 4, "min_hubs": 0, **doc.get("group", {})}
    insts = _institutions(doc)
    forbidden = [set(p) for p in doc.get("rules", {}).get("forbidden", [])]
    members_seen: set[str] = set()
    total = 0.0
    for g in solution.solution["groups"]:
        members = g["members"]
        assert not members_seen & set(members), "groups overlap"
        members_seen |= set(members)
        assert rules["min_size"] <= len(members) <= rules["max_size"]
        assert sum(insts[m].get("hub", False) for m in members) >= rules["min_hubs"]
        if rules.get("same_region"):
            assert len({insts[m].get("region") for m in members}) == 1
        assert not any(pair <= set(members) for pair in forbidden)
        score = sum(
            _score(doc, a, b) for a, b in combinations(members, 2) if _is_candidate(doc, a, b)
        )
        assert g["score"] == pytest.approx(score, abs=TOL)
        total += score
    assert solution.objective == pytest.approx(total, abs=TOL)
