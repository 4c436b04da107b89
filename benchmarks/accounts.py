"""Reasons and budgets on generated instruments weeks (contract 6.8, issue #18).

Two tables:

* **Reasons.** A greedy plan of a generated week, then a reason for every unscheduled
  request: seconds for the reasons against seconds for the greedy plan itself (the baseline
  in the same run), and how many reasons of each code.
* **Budgets.** The same week solved with no budgets, then with every institution's budget
  set to a share of what that plan spent: objective, bound, status and seconds of each, and
  the ratio of the budgeted objective to the free one.
* **Fair share.** The week with equal targets per institution on every type and a decayed
  history, solved with the penalty at 0 (shares reported only) and at ``--penalty``: weight
  served, the summed shortfall, objective, status and seconds.

    PYTHONPATH=. python -m benchmarks.accounts                 # about 90 s on 2 cores
    PYTHONPATH=. python -m benchmarks.accounts --sizes 1000 3000 --share 0.6
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import Counter
from typing import Any

from optimizer.core.documents import parse_document, solve_document
from optimizer.instruments import explain
from optimizer.instruments.generate import week_document
from optimizer.instruments.greedy import greedy
from optimizer.instruments.timeline import build_timeline


def priced(doc: dict[str, Any]) -> dict[str, Any]:
    """The week with an hourly price per instrument type (internal below external)."""
    out = copy.deepcopy(doc)
    types = sorted({i["type"] for i in out["instruments"]})
    out["prices"] = [
        {"instrument_type": t, "internal_per_hour": 40 + 10 * k, "external_per_hour": 90 + 15 * k}
        for k, t in enumerate(types)
    ]
    return out


def reasons_row(n: int, seed: int) -> list[str]:
    doc = priced(week_document(n, max(4, n // 12), max(2, n // 20), seed=seed))
    tl = build_timeline(parse_document(doc).instance)
    t0 = time.perf_counter()
    plan = greedy(tl)
    t1 = time.perf_counter()
    reasons = explain.unscheduled(tl, plan.bookings, "not proven: greedy")
    t2 = time.perf_counter()
    codes = Counter(r.code for r in reasons)
    return [
        str(n),
        str(len(reasons)),
        f"{t1 - t0:.2f}",
        f"{t2 - t1:.2f}",
        f"{(t2 - t1) / max(1e-9, t1 - t0):.1f}",
        ", ".join(f"{c} {k}" for c, k in codes.most_common()),
    ]


def budget_rows(n: int, seed: int, share: float, limit: float) -> list[list[str]]:
    doc = priced(week_document(n, max(4, n // 12), max(2, n // 20), seed=seed))
    options = {"time_limit_s": limit, "threads": 2, "seed": 1, "explain": False}
    t0 = time.perf_counter()
    free = solve_document(doc, overrides=options)
    t1 = time.perf_counter()
    spent = free.kpis["cost_by_institution"]
    doc["budgets"] = [
        {"institution": who, "max_cost": round(share * c, 2)} for who, c in sorted(spent.items())
    ]
    budgeted = solve_document(doc, overrides=options)
    t2 = time.perf_counter()
    rows = []
    for name, result, seconds in (
        ("none", free, t1 - t0),
        (f"{share:g} of spend", budgeted, t2 - t1),
    ):
        assert result.verification.valid, result.verification.violations
        rows.append(
            [
                str(n),
                name,
                str(result.status),
                f"{result.objective:g}",
                f"{result.bound:g}" if result.bound is not None else "-",
                f"{seconds:.1f}",
                f"{(result.objective or 0) / max(1e-9, free.objective or 0):.3f}",
            ]
        )
    return rows


def share_rows(n: int, seed: int, penalty: float, limit: float) -> list[list[str]]:
    doc = week_document(n, max(4, n // 12), max(2, n // 20), seed=seed)
    institutions = sorted({r["institution"] for r in doc["requests"]})
    types = sorted({i["type"] for i in doc["instruments"]})
    target = int(100 / len(institutions)) / 100
    doc["fair_share"] = [
        {"institution": who, "instrument_type": t, "target": target}
        for who in institutions
        for t in types
    ]
    # The first institutions used every type heavily over the last weeks.
    doc["usage_history"] = [
        {"institution": who, "instrument_type": t, "weeks_ago": w, "minutes": 2400}
        for who in institutions[:3]
        for t in types
        for w in (1, 2)
    ]
    options = {"time_limit_s": limit, "threads": 2, "seed": 1, "explain": False}
    rows = []
    for value in (0.0, penalty):
        t0 = time.perf_counter()
        result = solve_document({**doc, "fair_share_penalty": value}, overrides=options)
        seconds = time.perf_counter() - t0
        assert result.verification.valid, result.verification.violations
        short = sum(
            row["shortfall_minutes"] or 0
            for by_who in result.kpis["fair_share"].values()
            for row in by_who.values()
        )
        rows.append(
            [
                str(n),
                f"{value:g}",
                str(result.status),
                f"{result.kpis['served_weight']:g}",
                f"{short:.0f}",
                f"{result.objective:.2f}",
                f"{result.bound:.2f}" if result.bound is not None else "-",
                f"{seconds:.1f}",
            ]
        )
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument("--budget-sizes", type=int, nargs="+", default=[150])
    parser.add_argument("--share", type=float, default=0.6)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--penalty", type=float, default=0.01)
    parser.add_argument("--share-sizes", type=int, nargs="+", default=[150])
    parser.add_argument(
        "--only", choices=["reasons", "budgets", "shares"], help="print one table only"
    )
    args = parser.parse_args(argv)
    if args.only in (None, "reasons"):
        print(
            table(
                ["requests", "unscheduled", "greedy s", "reasons s", "reasons / greedy", "codes"],
                [reasons_row(n, args.seed) for n in args.sizes],
            )
        )
        print()
    if args.only in (None, "budgets"):
        print(
            table(
                ["requests", "budgets", "status", "objective", "bound", "seconds", "vs none"],
                [
                    row
                    for n in args.budget_sizes
                    for row in budget_rows(n, args.seed, args.share, args.time_limit)
                ],
            )
        )
        print()
    if args.only in (None, "shares"):
        header = ["requests", "penalty", "status", "weight", "shortfall min", "objective"]
        print(
            table(
                [*header, "bound", "s"],
                [
                    row
                    for n in args.share_sizes
                    for row in share_rows(n, args.seed, args.penalty, args.time_limit)
                ],
            )
        )


if __name__ == "__main__":
    main()
