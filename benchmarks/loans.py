"""Loans benchmark: objective, bound, gap and time per backend, against the rota baseline.

    .venv/bin/python -m benchmarks.loans                      # 1,000 / 5,000 / 20,000 requests
    .venv/bin/python -m benchmarks.loans --sizes 800 --solvers auto,cp-sat --time-limit 30

Instances come from ``optimizer/loans/generate.py`` (seeded): libraries = requests / 100
(at least 25), copies = 5 x requests above 5,000 requests (3.75 x below). Every plan is
checked by the verifier; the table shows the verified objective.

Dated results: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import resource
import time

from optimizer.core.envelope import Options
from optimizer.loans import LoansInstance, solve
from optimizer.loans.generate import loans_document


def copies_for(requests: int) -> int:
    return 5 * requests if requests >= 5000 else int(3.75 * requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--solvers", default="auto")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    header = (
        f"{'requests':>8} {'libs':>5} {'copies':>7} {'solver':>7} {'status':>9} "
        f"{'objective':>12} {'bound':>12} {'gap':>8} {'time s':>7} {'fill':>6} "
        f"{'rota obj':>12} {'rota fill':>9} {'vs rota':>8} {'method':>14} {'cands':>8}"
    )
    print(header)
    for size in (int(x) for x in args.sizes.split(",")):
        t0 = time.perf_counter()
        doc = loans_document(size, copies=copies_for(size), seed=args.seed)
        instance = LoansInstance.model_validate(doc)
        made = time.perf_counter() - t0
        rota = solve(instance, Options(solver="rota", time_limit_s=args.time_limit))
        assert rota.verification.valid, rota.verification.violations
        for solver in args.solvers.split(","):
            options = Options(solver=solver, time_limit_s=args.time_limit, threads=args.threads)
            sol = solve(instance, options)
            assert sol.verification.valid in (True, None), sol.verification.violations
            gap = f"{100 * sol.gap:.3f}%" if sol.gap is not None else "-"
            better = (
                f"{100 * (rota.objective - sol.objective) / rota.objective:.1f}%"
                if sol.objective is not None and rota.objective
                else "-"
            )
            bound = f"{sol.bound:12.1f}" if sol.bound is not None else f"{'-':>12}"
            objective = f"{sol.objective:12.1f}" if sol.objective is not None else f"{'-':>12}"
            print(
                f"{size:>8} {len(instance.libraries):>5} {len(instance.copies):>7} "
                f"{solver:>7} {sol.status.value:>9} {objective} {bound} {gap:>8} "
                f"{sol.run.runtime_s:>7.1f} {sol.kpis.get('fill_rate', 0):>6.3f} "
                f"{rota.objective:>12.1f} {rota.kpis['fill_rate']:>9.3f} {better:>8} "
                f"{sol.kpis.get('method', '-'):>14} {sol.kpis.get('candidate_loans', 0):>8}",
                flush=True,
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"# {size} requests: generated in {made:.1f}s, rota {rota.run.runtime_s:.1f}s, "
            f"peak memory so far {peak:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
