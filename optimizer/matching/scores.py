"""Candidate pairs and their scores (contract section 3: candidate pairs, score formula).

Bulk work is vectorised with numpy, one institution's row of partners at a time, so the
all-pairs formula stays in memory for thousands of institutions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from optimizer.core.runner import OutOfTime
from optimizer.matching.schema import Institution, MatchingInstance

EARTH_RADIUS_KM = 6371.0
PARALLEL_TOLERANCE = 1e-12
"""Complementarity below this is 0: the profiles are parallel (verify.py uses the same)."""


@dataclass
class Candidates:
    """Surviving candidate pairs as parallel arrays over institution indices (a < b)."""

    ids: list[str]
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    need: np.ndarray | None = None
    complementarity: np.ndarray | None = None
    distance: np.ndarray | None = None
    bonus: np.ndarray | None = None
    _index: dict[tuple[int, int], int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.a)

    def index(self, i: int, j: int) -> int | None:
        """Position of the pair {i, j} among the candidates, if it is one."""
        if self._index is None:
            self._index = {
                (int(x), int(y)): k for k, (x, y) in enumerate(zip(self.a, self.b, strict=True))
            }
        return self._index.get((i, j) if i < j else (j, i))

    def breakdown(self, k: int) -> dict[str, float] | None:
        if self.need is None:
            return None
        assert self.complementarity is not None and self.distance is not None
        assert self.bonus is not None
        return {
            "need": float(self.need[k]),
            "complementarity": float(self.complementarity[k]),
            "distance": float(self.distance[k]),
            "bonus": float(self.bonus[k]),
        }


def great_circle_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray):
    """Haversine distance on a sphere of radius 6371 km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


class _Table:
    """The instance's institutions as arrays, for row-at-a-time vector work."""

    def __init__(self, institutions: list[Institution]):
        self.n = len(institutions)
        disciplines = sorted({d for inst in institutions for d in (*inst.strengths, *inst.needs)})
        column = {d: k for k, d in enumerate(disciplines)}
        self.strengths = np.zeros((self.n, len(disciplines)))
        self.needs = np.zeros((self.n, len(disciplines)))
        for i, inst in enumerate(institutions):
            for d, v in inst.strengths.items():
                self.strengths[i, column[d]] = v
            for d, v in inst.needs.items():
                self.needs[i, column[d]] = v
        self.norm = np.linalg.norm(self.strengths, axis=1)
        self.has_location = np.array([inst.location is not None for inst in institutions])
        self.lat = np.array([inst.location.lat if inst.location else 0.0 for inst in institutions])
        self.lon = np.array([inst.location.lon if inst.location else 0.0 for inst in institutions])
        self.zone = [inst.zone for inst in institutions]
        self.region = [inst.region for inst in institutions]
        self.type = [inst.type for inst in institutions]

    def distance_row(self, i: int, js: np.ndarray) -> np.ndarray:
        """Great-circle km from i to each of js; NaN where a location is missing."""
        km = great_circle_km(self.lat[i], self.lon[i], self.lat[js], self.lon[js])
        km[~(self.has_location[i] & self.has_location[js])] = np.nan
        return km

    def formula_row(self, i: int, js: np.ndarray, weights) -> tuple[np.ndarray, ...]:
        """Score formula for the pairs (i, j) for j in js: (score, need, compl, dist, bonus)."""
        s_i, s_j = self.strengths[i], self.strengths[js]
        n_i, n_j = self.needs[i], self.needs[js]
        need = (n_i * np.maximum(0.0, s_j - s_i)).sum(axis=1) + (
            n_j * np.maximum(0.0, s_i - s_j)
        ).sum(axis=1)
        denom = self.norm[i] * self.norm[js]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = np.where(denom > 0, (s_j @ s_i) / np.where(denom > 0, denom, 1.0), 1.0)
        complementarity = np.where(denom > 0, 1.0 - cosine, 0.0)
        # Parallel profiles have complementarity exactly 0, but round-off leaves +-1e-16,
        # and `score > min_score` would then decide differently here and in the verifier.
        complementarity[np.abs(complementarity) < PARALLEL_TOLERANCE] = 0.0
        km = self.distance_row(i, js)
        distance = np.where(np.isnan(km), 0.0, km / 1000.0)
        zi = self.zone[i]
        bonus = np.array(
            [
                weights.cross_zone_bonus if zi is not None and zj is not None and zi != zj else 0.0
                for zj in (self.zone[j] for j in js)
            ]
        )
        score = (
            weights.need * need
            + weights.complementarity * complementarity
            - weights.distance_per_1000km * distance
            + bonus
        )
        return score, need, complementarity, distance, bonus


def _unordered(pairs) -> set[frozenset[str]]:
    return {frozenset(p) for p in pairs}


def rule_mask(instance: MatchingInstance, table: _Table, i: int, js: np.ndarray, scores):
    """Which pairs (i, j) survive the rules (before the forbidden list)."""
    rules = instance.rules
    keep = np.ones(len(js), dtype=bool)
    if rules.allowed_zone_pairs is not None:
        allowed = _unordered(rules.allowed_zone_pairs)
        keep &= np.array([frozenset((table.zone[i], table.zone[j])) in allowed for j in js])
    if rules.allowed_type_pairs is not None:
        allowed = _unordered(rules.allowed_type_pairs)
        keep &= np.array([frozenset((table.type[i], table.type[j])) in allowed for j in js])
    if rules.same_region:
        ri = table.region[i]
        keep &= np.array([ri is not None and table.region[j] == ri for j in js], dtype=bool)
    if rules.max_distance_km is not None:
        km = table.distance_row(i, js)
        keep &= ~np.isnan(km) & (np.nan_to_num(km, nan=np.inf) <= rules.max_distance_km)
    keep &= scores > rules.min_score
    return keep


def build_candidates(
    instance: MatchingInstance, out_of_time: Callable[[], bool] | None = None
) -> Candidates:
    """Every candidate pair that the rules allow, with its score (and breakdown for the formula).

    The formula scores all n(n-1)/2 pairs; ``out_of_time`` is polled between rows so a huge
    instance stops at its time limit (raising :class:`OutOfTime`) instead of running on.
    """
    inst = instance.institutions
    ids = [x.id for x in inst]
    table = _Table(inst)
    position = {x: k for k, x in enumerate(ids)}
    forbidden = {
        (min(position[a], position[b]), max(position[a], position[b]))
        for a, b in instance.rules.forbidden
    }
    parts: list[tuple[np.ndarray, ...]] = []

    if instance.scores is not None:
        # Only the listed pairs are candidates: group them by their lower index.
        by_row: dict[int, tuple[list[int], list[float]]] = {}
        for entry in instance.scores:
            i, j = sorted((position[entry.a], position[entry.b]))
            row = by_row.setdefault(i, ([], []))
            row[0].append(j)
            row[1].append(entry.score)
        for i, (js_list, sc_list) in sorted(by_row.items()):
            js = np.array(js_list, dtype=np.int64)
            sc = np.array(sc_list, dtype=float)
            keep = rule_mask(instance, table, i, js, sc)
            parts.append((np.full(int(keep.sum()), i), js[keep], sc[keep]))
        with_breakdown = False
    else:
        for i in range(table.n - 1):
            if out_of_time is not None and i % 64 == 0 and out_of_time():
                raise OutOfTime(f"scored the pairs of {i} of {table.n} institutions")
            js = np.arange(i + 1, table.n)
            score, need, compl, dist, bonus = table.formula_row(i, js, instance.weights)
            keep = rule_mask(instance, table, i, js, score)
            parts.append(
                (
                    np.full(int(keep.sum()), i),
                    js[keep],
                    score[keep],
                    need[keep],
                    compl[keep],
                    dist[keep],
                    bonus[keep],
                )
            )
        with_breakdown = True

    if parts:
        columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    else:
        columns = [np.zeros(0, dtype=np.int64)] * 2 + [np.zeros(0)] * (5 if with_breakdown else 1)
    a, b = columns[0].astype(np.int64), columns[1].astype(np.int64)
    if forbidden:
        allowed = np.array(
            [(int(x), int(y)) not in forbidden for x, y in zip(a, b, strict=True)], dtype=bool
        )
        columns = [c[allowed] for c in columns]
        a, b = a[allowed], b[allowed]
    if with_breakdown:
        need, complementarity, distance, bonus = columns[3:]
        return Candidates(ids, a, b, columns[2], need, complementarity, distance, bonus)
    return Candidates(ids, a, b, columns[2])


def removal_reason(instance: MatchingInstance, i: int, j: int) -> str | None:
    """The first rule that keeps the pair (i, j) from being a candidate, or None if it is one."""
    inst_i, inst_j = instance.institutions[i], instance.institutions[j]
    rules = instance.rules
    pair = frozenset((inst_i.id, inst_j.id))
    if instance.scores is not None:
        listed = [s.score for s in instance.scores if frozenset((s.a, s.b)) == pair]
        if not listed:
            return "not_scored"
        score = listed[0]
    else:
        table = _Table([inst_i, inst_j])
        score = float(table.formula_row(0, np.array([1]), instance.weights)[0][0])
    if rules.allowed_zone_pairs is not None and frozenset(
        (inst_i.zone, inst_j.zone)
    ) not in _unordered(rules.allowed_zone_pairs):
        return "allowed_zone_pairs"
    if rules.allowed_type_pairs is not None and frozenset(
        (inst_i.type, inst_j.type)
    ) not in _unordered(rules.allowed_type_pairs):
        return "allowed_type_pairs"
    if rules.same_region and (inst_i.region is None or inst_i.region != inst_j.region):
        return "same_region"
    if rules.max_distance_km is not None:
        if inst_i.location is None or inst_j.location is None:
            return "max_distance_km"
        km = float(
            great_circle_km(
                np.array(inst_i.location.lat),
                np.array(inst_i.location.lon),
                np.array(inst_j.location.lat),
                np.array(inst_j.location.lon),
            )
        )
        if km > rules.max_distance_km:
            return "max_distance_km"
    if not score > rules.min_score:
        return "min_score"
    if pair in _unordered(rules.forbidden):
        return "forbidden"
    return None


RULE_WORDS = {
    "not_scored": "no score listed",
    "allowed_zone_pairs": "zones not in allowed_zone_pairs",
    "allowed_type_pairs": "types not in allowed_type_pairs",
    "same_region": "different or missing regions under same_region",
    "max_distance_km": "beyond max_distance_km or no location",
    "min_score": "score not above min_score",
    "forbidden": "forbidden",
}


def required_indices(instance: MatchingInstance, cands: Candidates) -> list[int]:
    position = {x: k for k, x in enumerate(cands.ids)}
    found = []
    for a, b in instance.rules.required:
        k = cands.index(position[a], position[b])
        if k is not None:
            found.append(k)
    return sorted(set(found))


def incidence(cands: Candidates, n: int) -> list[list[int]]:
    """For each institution, the candidate pairs it belongs to."""
    by_node: list[list[int]] = [[] for _ in range(n)]
    for k, (i, j) in enumerate(zip(cands.a.tolist(), cands.b.tolist(), strict=True)):
        by_node[i].append(k)
        by_node[j].append(k)
    return by_node
