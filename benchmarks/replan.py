"""Re-planning an instruments week after a disruption, against a fresh re-solve.

Each scenario changes the Chengdu-Chongqing week the way a facility's week goes wrong
(an instrument down for a day, an operator off sick, a GPU partition lent out), then solves
it twice with the same options: re-planned against the published pre-disruption plan
(``instances/instruments/replan/week-published.solution.json``), and afresh. It prints,
per scenario and way: status and verification, the share of the published bookings kept
where the disruption does not reach (and overall), the weight served against the fresh
solve's, and the changes (moved / dropped / added against the published plan).

    PYTHONPATH=. python -m benchmarks.replan            # about three minutes on 2 cores
    PYTHONPATH=. python -m benchmarks.replan --time-limit 60
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Solution
from optimizer.core.plans import diff_plans
from optimizer.instruments.plan import items

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "instances" / "instruments" / "replan"
WEEK = ROOT / "instances" / "instruments" / "chengdu-chongqing-week.json"
# The options the published plan was solved with.
SEED = 0
THREADS = 2
TIME_LIMIT_S = 20.0

Booking = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    document: Callable[[], dict[str, Any]]
    touched: Callable[[Booking], bool]
    """Whether a published booking is one the disruption reaches (its instrument, its
    operator): the others should stay where they were."""


def _week() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(WEEK.read_text())
    return doc


def _down(instrument: str, start: str, end: str, name: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        doc = copy.deepcopy(_week())
        doc["name"] = name
        inst = next(i for i in doc["instruments"] if i["id"] == instrument)
        inst["maintenance"] = [*inst.get("maintenance", []), {"start": start, "end": end}]
        return doc

    return load


def _off_sick(operator: str, start: str, end: str) -> Callable[[], dict[str, Any]]:
    """The operator's shifts that meet [start, end) are gone (ISO strings of one offset
    compare in time order)."""

    def load() -> dict[str, Any]:
        doc = copy.deepcopy(_week())
        doc["name"] = f"week-{operator}-off-sick"
        op = next(o for o in doc["operators"] if o["id"] == operator)
        op["availability"] = [
            w for w in op["availability"] if w["end"] <= start or w["start"] >= end
        ]
        return doc

    return load


def _breakdown() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FOLDER / "week-cryo-em-breakdown.json").read_text())
    return doc


def scenarios() -> list[Scenario]:
    return [
        Scenario(
            "cryo-em-1 down Tue (shipped)",
            _breakdown,
            lambda b: b["instrument"] == "cryo-em-1",
        ),
        Scenario(
            "nmr-600-1 down Wed",
            _down(
                "nmr-600-1",
                "2026-12-09T08:00:00+08:00",
                "2026-12-10T08:00:00+08:00",
                "week-nmr-down",
            ),
            lambda b: b["instrument"] == "nmr-600-1",
        ),
        Scenario(
            "op-04 off sick Tue-Wed",
            _off_sick("op-04", "2026-12-08T08:00:00+08:00", "2026-12-10T08:00:00+08:00"),
            lambda b: b.get("operator") == "op-04",
        ),
        Scenario(
            "hpc-1 lent out Thu-Sun",
            _down(
                "hpc-1",
                "2026-12-10T08:00:00+08:00",
                "2026-12-14T08:00:00+08:00",
                "week-gpu-halved",
            ),
            lambda b: b["instrument"] == "hpc-1",
        ),
    ]


def _kept(published: list[Booking], plan: list[Booking], only: Callable[[Booking], bool]) -> str:
    """The share (%) of the published bookings ``only`` selects that ``plan`` keeps."""
    before = items({"bookings": [b for b in published if only(b)]})
    after = items({"bookings": plan})
    same = sum(after.get(key) == value for key, value in before.items())
    return f"{100 * same / len(before):.1f}" if before else "-"


def _row(
    scenario: Scenario, way: str, result: Solution, published: dict[str, Any], fresh_weight: float
) -> list[str]:
    if result.solution is None:
        return [scenario.name, way, str(result.status), "-", "-", "-", "-", "-"]
    bookings = published["solution"]["bookings"]
    plan = result.solution["bookings"]
    diff = diff_plans(items(published["solution"]), items(result.solution))
    weight = float(result.kpis["served_weight"])
    return [
        scenario.name,
        way,
        f"{result.status}, {'verified' if result.verification.valid else 'NOT VERIFIED'}",
        _kept(bookings, plan, lambda b: not scenario.touched(b)),
        _kept(bookings, plan, lambda b: True),
        f"{weight:g}",
        f"{100 * weight / fresh_weight:.1f}" if fresh_weight else "-",
        f"{diff.moved}/{diff.dropped}/{diff.added}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S)
    args = parser.parse_args(argv)
    published = json.loads((FOLDER / "week-published.solution.json").read_text())
    overrides = {"time_limit_s": args.time_limit, "threads": THREADS, "seed": SEED}
    header = [
        "scenario", "way", "status", "kept untouched %", "kept all %",
        "weight", "weight vs fresh %", "moved/dropped/added",
    ]  # fmt: skip
    rows = []
    for scenario in scenarios():
        doc = scenario.document()
        fresh = solve_document(doc, overrides=overrides)
        replanned = solve_document(doc, overrides=overrides, previous=published)
        fresh_weight = float(fresh.kpis.get("served_weight", 0.0))
        rows.append(_row(scenario, "re-plan", replanned, published, fresh_weight))
        rows.append(_row(scenario, "fresh", fresh, published, fresh_weight))
        print(" | ".join(rows[-2]), file=sys.stderr, flush=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
