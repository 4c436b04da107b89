"""Loans with courier runs (contract 7.7): objective, bound and gap in the time limit, against
the rota baseline costed with the same couriers.

    .venv/bin/python -m benchmarks.loans_couriers                    # 20,000 requests, 60 s
    .venv/bin/python -m benchmarks.loans_couriers --sizes 800,5000 --libraries 25,50
    .venv/bin/python -m benchmarks.loans_couriers --sizes 800,20000 --libraries 25,60 --replan

Instances come from ``optimizer/loans/generate.py`` (seeded): ``loans_document`` with the
given libraries, then ``with_couriers``: two runs a week each way on every route, a run
costing three parcels on its route, capacity 40, handling 2 per item and leg, New Year's Day
closed everywhere and Sundays at half the libraries. Both plans are checked by the verifier;
the table shows verified objectives. ``vs rota`` is how much cheaper the plan is than the
baseline's.

With ``--replan`` each plan is then re-planned against itself (contract 7.6, 7.7) twice, with
the default change penalty: the instance unchanged, and ten days on (``now``) with the
library that borrows most closed for a week, from the first day no loan shipped by then is
still on its way, so that its runs in and out that week do not run. The second table shows
the changes, the objective before their cost, and time.

Dated results: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from optimizer.core.envelope import Options
from optimizer.loans import LoansInstance, solve
from optimizer.loans.generate import loans_document, with_couriers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--libraries", default="", help="per size; default requests / 100")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replan", action="store_true", help="then re-plan each plan twice")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    libraries = [int(x) for x in args.libraries.split(",")] if args.libraries else []

    print(
        f"{'requests':>8} {'libs':>5} {'couriers':>8} {'status':>9} {'objective':>12} "
        f"{'bound':>12} {'gap':>8} {'time s':>7} {'filled':>7} {'runs':>6} "
        f"{'rota obj':>12} {'rota s':>7} {'vs rota':>8} {'cands':>8} {'exact':>5}"
    )
    replans: list[tuple[dict[str, Any], dict[str, Any], Options]] = []
    for k, size in enumerate(sizes):
        libs = libraries[k] if k < len(libraries) else None
        doc = with_couriers(loans_document(size, libraries=libs, seed=args.seed), seed=args.seed)
        instance = LoansInstance.model_validate(doc)
        t0 = time.perf_counter()
        rota = solve(instance, Options(solver="rota", time_limit_s=args.time_limit))
        rota_s = time.perf_counter() - t0
        assert rota.verification.valid, rota.verification.violations
        options = Options(time_limit_s=args.time_limit, threads=args.threads, seed=args.seed)
        t0 = time.perf_counter()
        sol = solve(instance, options)
        took = time.perf_counter() - t0
        assert sol.verification.valid, sol.verification.violations
        assert sol.objective is not None and rota.objective is not None
        plan = sol.solution or {}
        gap = f"{100 * sol.gap:.2f}%" if sol.gap is not None else "-"
        bound = f"{sol.bound:12.1f}" if sol.bound is not None else f"{'-':>12}"
        better = 100 * (rota.objective - sol.objective) / rota.objective
        print(
            f"{size:>8} {len(instance.libraries):>5} {len(instance.couriers):>8} "
            f"{sol.status.value:>9} {sol.objective:12.1f} {bound} {gap:>8} {took:7.1f} "
            f"{len(plan.get('loans', [])):>7} {len(plan.get('runs', [])):>6} "
            f"{rota.objective:12.1f} {rota_s:7.1f} {better:7.1f}% "
            f"{sol.kpis.get('candidate_loans', '-'):>8} "
            f"{sol.kpis.get('candidate_days_exact', '-')!s:>5}",
            flush=True,
        )
        if args.replan:
            replans.append((doc, sol.solution or {}, options))
    if replans:
        replan_table(replans)


def disrupted(doc: dict[str, Any], plan: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    """``doc`` ten days on, the library that borrows most in ``plan`` closed for a week from
    the first day no loan shipped by then can still be on its way (a closure on a day a
    shipped loan arrives would leave that loan no run, and the re-plan no plan)."""
    start = date.fromisoformat(doc["horizon"]["start"])
    borrower = Counter(x["borrower"] for x in plan["loans"]).most_common(1)[0][0]
    out = copy.deepcopy(doc)
    first = 10 + max(k["days"] for k in doc["couriers"]) + 1
    week = [(start + timedelta(days=d)).isoformat() for d in range(first, first + 7)]
    for x in out["libraries"]:
        if x["id"] == borrower:
            x["closed_dates"] = sorted({*x.get("closed_dates", []), *week})
    now = datetime(start.year, start.month, start.day, 18, tzinfo=UTC) + timedelta(days=10)
    return out, now


def replan_table(replans: list[tuple[dict[str, Any], dict[str, Any], Options]]) -> None:
    print(
        f"\n{'requests':>8} {'case':>10} {'status':>9} {'objective':>12} {'before ch.':>12} "
        f"{'kept':>6} {'moved':>6} {'dropped':>7} {'added':>6} {'time s':>7}"
    )
    for doc, plan, options in replans:
        unchanged = {**doc, "previous": plan}
        closed, now = disrupted(doc, plan)
        cases = [
            ("unchanged", unchanged, options),
            ("closed", {**closed, "previous": plan}, options.model_copy(update={"now": now})),
        ]
        for case, document, opts in cases:
            t0 = time.perf_counter()
            sol = solve(LoansInstance.model_validate(document), opts)
            took = time.perf_counter() - t0
            assert sol.verification.valid, sol.verification.violations
            assert sol.changes is not None and sol.objective is not None
            ch = sol.changes
            print(
                f"{len(doc['requests']):>8} {case:>10} {sol.status.value:>9} "
                f"{sol.objective:12.1f} {sol.kpis['objective_before_changes']:12.1f} "
                f"{ch.kept:>6} {ch.moved:>6} {ch.dropped:>7} {ch.added:>6} {took:7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
