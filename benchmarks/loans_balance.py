"""Compensation against a balance cap: what each policy costs the consortium, and what the
settlement adds to a solve.

    .venv/bin/python -m benchmarks.loans_balance
    .venv/bin/python -m benchmarks.loans_balance --sizes 1000,2000 --cap 30 --time-limit 30

Then the fewest-transfers search alone, on seeded random nets of 18 to 30 libraries (up to
24 left after pairing opposites are searched): its transfers and time against the greedy
settlement (the search given no time), and the verifier's own search timed beside it.

Per instance (the western-consortium example, then generated ones, seeded), three runs of
the same plan model: the instance as it is (the baseline), with ``balance_price``, and with
``balance_price`` and ``max_imbalance``. Ratios are against the baseline of the same run.
The settlement and its verification are timed on their own, on the priced plan. Every plan is
checked by the verifier.

Dated results: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path
from typing import Any

from optimizer.core.envelope import Options, Solution
from optimizer.loans import LoansInstance, solve
from optimizer.loans.generate import loans_document
from optimizer.loans.settlement import fewest_transfers, settlement
from optimizer.loans.verify_settlement import _most_zero_sum_groups, settlement_violations

ROOT = Path(__file__).resolve().parents[1]
PRICE = 12.5


def _run(doc: dict[str, Any], options: Options) -> tuple[LoansInstance, Solution]:
    instance = LoansInstance.model_validate(doc)
    solution = solve(instance, options)
    assert solution.verification.valid, solution.verification.violations
    return instance, solution


def _settlement_times(instance: LoansInstance, payload: dict[str, Any]) -> tuple[float, float]:
    """Seconds to build the settlement and to verify it, on the plan given."""
    t0 = time.perf_counter()
    settled = settlement(instance, payload)
    built = time.perf_counter() - t0
    lent: dict[str, int] = {}
    received: dict[str, int] = {}
    borrower = {r.id: r.library for r in instance.requests}
    for loan in payload["loans"]:
        lent[loan["lender"]] = lent.get(loan["lender"], 0) + 1
        received[borrower[loan["request"]]] = received.get(borrower[loan["request"]], 0) + 1
    t0 = time.perf_counter()
    assert settlement_violations(instance, {"settlement": settled}, lent, received) == []
    return built, time.perf_counter() - t0


def search_table(seed: int, cases: int) -> None:
    """The exact search against the greedy settlement on random nets."""
    print("| libraries | left after pairing | greedy | fewest | ratio | search s | verify s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rng = random.Random(seed)
    for size in (18, 22, 26, 30):
        for _ in range(cases):
            values = [rng.choice((-1, 1)) * rng.randint(1, 90) for _ in range(size - 1)]
            nets = {f"L{i:02d}": v for i, v in enumerate(values)}
            nets["L99"] = -sum(values)
            greedy, _ = fewest_transfers(nets, budget_s=0.0)
            t0 = time.perf_counter()
            moves, proven = fewest_transfers(nets)
            searched = time.perf_counter() - t0
            owing = sorted(v for v in nets.values() if v != 0)
            left = len(owing) - 2 * sum(
                min(owing.count(v), owing.count(-v)) for v in set(owing) if v > 0
            )
            t0 = time.perf_counter()
            groups = _most_zero_sum_groups(owing) if proven else None
            checked = time.perf_counter() - t0
            assert groups is None or len(moves) == len(owing) - groups
            fewest = f"{len(moves)}" if proven else f"({len(moves)})"
            print(
                f"| {size} | {left} | {len(greedy)} | {fewest} | "
                f"{len(moves) / len(greedy):.3f} | {searched:.2f} | "
                f"{f'{checked:.2f}' if proven else '-'} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000", help="generated instances' requests")
    parser.add_argument("--cap", type=int, default=30, help="max_imbalance of the third run")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--search-cases", type=int, default=3, help="random nets per size")
    args = parser.parse_args()
    search_table(args.seed, args.search_cases)
    print()
    options = Options(time_limit_s=args.time_limit, threads=args.threads, seed=args.seed)

    docs = [json.loads((ROOT / "instances/loans/western-consortium.json").read_text())]
    docs += [loans_document(int(n), seed=args.seed) for n in args.sizes.split(",") if n]
    print(
        "| instance | run | status | objective | vs base | unfilled | max abs net | "
        "transfers | fewest | N-1 | solve s | vs base | settle ms | verify ms |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for doc in docs:
        doc.pop("options", None)
        priced = copy.deepcopy(doc)
        priced["policies"]["balance_price"] = PRICE
        capped = copy.deepcopy(priced)
        capped["policies"]["max_imbalance"] = args.cap
        base: Solution | None = None
        for label, variant in (
            ("as is", doc),
            (f"price {PRICE:g}", priced),
            (f"price + cap {args.cap}", capped),
        ):
            instance, sol = _run(variant, options)
            base = base or sol
            assert sol.objective is not None and base.objective is not None
            settled = sol.solution.get("settlement")
            nets = [x["lent"] - x["received"] for x in sol.kpis["loans_by_library"].values()]
            owing = sum(1 for v in nets if v != 0)
            built = checked = None
            if settled is not None:
                built, checked = _settlement_times(instance, sol.solution)
            print(
                f"| {instance.name} | {label} | {sol.status.value} | {sol.objective:.1f} | "
                f"{sol.objective / base.objective:.3f} | {len(sol.solution['unfilled'])} | "
                f"{max(abs(v) for v in nets)} | "
                f"{len(settled['transfers']) if settled else '-'} | "
                f"{settled['fewest_transfers'] if settled else '-'} | {max(0, owing - 1)} | "
                f"{sol.run.runtime_s:.2f} | {sol.run.runtime_s / base.run.runtime_s:.2f} | "
                f"{f'{1000 * built:.1f}' if built is not None else '-'} | "
                f"{f'{1000 * checked:.1f}' if checked is not None else '-'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
