"""Benchmark the instruments kind (minutes, not a test).

(a) JSPLIB job shops through ``solve()``: time to a proven optimum against the known optimum.
(b) Seeded realistic weeks at 200, 1,000 and 3,000 requests: objective, bound and gap at 10 s
    and 60 s, time to the first CP-SAT schedule, peak memory, and weighted requests served
    against the greedy first-come-first-served baseline on the same instance.
(b') The same weeks with contract 6.7's resources (cryo-EM attended for its first hour
    and running on overnight, GPU clusters of eight job slots, processing steps that do not
    move the sample), beside the plain week of the same seed in the same run.
(c) Batches of repeated runs (identical requests): time to a proven optimum with and
    without ordering identical requests (symmetry breaking).
(d) Weighted interval scheduling (every booking time fixed) at scale: against the dynamic
    programme on one instrument, networkx's min-cost flow on identical instruments, and the
    CP-SAT model of the same instance where each request may use only some instruments.

    python -m benchmarks.instruments                 # everything (about half an hour)
    python -m benchmarks.instruments --part jsplib --limit 60
    python -m benchmarks.instruments --part weeks --sizes 1000 --limits 10 60
    python -m benchmarks.instruments --part weeks --sizes 1000 --seed 1 2 3
    python -m benchmarks.instruments --part facility --sizes 1000 --limits 10 60
    python -m benchmarks.instruments --part symmetry
    python -m benchmarks.instruments --part intervals --limit 60

Each run is a fresh process, so the peak memory reported (VmHWM) is that run's own; the
solve time excludes loading the libraries (a warm-up solve comes first). Dated results, and
what was tried and not kept: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import time
from pathlib import Path
from typing import Any

JSPLIB = Path(__file__).resolve().parent / "data" / "jsplib"
JSPLIB_SET = [
    "ft06", "la01", "la02", "la03", "la04", "la05", "ft10",
    "la16", "la17", "la18", "la19", "la20", "orb01", "abz5", "ft20",
]  # fmt: skip
WARM_UP = {
    "kind": "instruments",
    "horizon": {"start": "2026-12-01T08:00:00+08:00", "end": "2026-12-01T20:00:00+08:00"},
    "sites": [{"id": "s", "institution": "x"}],
    "instruments": [{"id": "m", "type": "t", "site": "s"}],
    "requests": [
        {"id": "r", "institution": "x", "steps": [{"instruments": ["m"], "duration_minutes": 5}]}
    ],
}
# requests -> (instruments, operators)
WEEK_SHAPES = {200: (12, 8), 1000: (40, 20), 3000: (120, 60)}


def _load() -> float:
    """The machine's one-minute load average: the cores are shared, and the figures vary
    with it."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _solve(doc: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    from optimizer.core.documents import parse_document, solve_document

    # Load every kind and the CP-SAT library before the clock starts: a long-running service
    # pays that once, not per solve.
    parse_document(doc)
    solve_document(WARM_UP, overrides={"time_limit_s": 5, "explain": False})
    first: list[float] = []
    started = time.perf_counter()

    def progress(update) -> None:
        if update.phase == "cp-sat" and update.objective is not None and not first:
            first.append(time.perf_counter() - started)

    sol = solve_document(doc, overrides=options, progress=progress)
    return {
        "status": str(sol.status),
        "objective": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "seconds": round(sol.run.runtime_s, 2),
        "first_solution_s": round(first[0], 2) if first else None,
        "valid": sol.verification.valid,
        "served": sol.kpis.get("served_requests"),
        "peak_mb": round(_peak_mb()),
    }


def _child(queue, doc, options, symmetry) -> None:
    if not symmetry:  # the comparison run: no group of identical requests is ordered
        from optimizer.instruments import symmetry

        symmetry.identical_requests = lambda tl: []
    queue.put(_solve(doc, options))


def run_isolated(
    doc: dict[str, Any], options: dict[str, Any], *, symmetry: bool = True
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, doc, options, symmetry))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench_jsplib(limit: float, threads: int) -> list[dict[str, Any]]:
    from optimizer.instruments.jsplib import jsplib_document

    optima = json.loads((JSPLIB / "optima.json").read_text())
    rows = []
    print(f"\n(a) JSPLIB through solve(), limit {limit:g} s, {threads} threads")
    print(f"{'instance':8} {'optimum':>8} {'found':>8} {'bound':>8} {'status':>9} {'seconds':>8}")
    for name in JSPLIB_SET:
        doc = jsplib_document((JSPLIB / f"{name}.txt").read_text(), name)
        r = run_isolated(doc, {"time_limit_s": limit, "threads": threads, "explain": False})
        r["instance"], r["optimum"] = name, optima[name]["optimum"]
        rows.append(r)
        print(
            f"{name:8} {r['optimum']:>8} {r['objective']!s:>8} {r['bound']!s:>8} "
            f"{r['status']:>9} {r['seconds']:>8}"
        )
    return rows


# The facility weeks (contract 6.7): cryo-EM attended for its first hour, clusters of this
# many job slots; the same options as the example facility week.
FACILITY = {"attended_minutes": 60, "hpc_capacity": 8}


def bench_weeks(
    sizes: list[int], limits: list[float], threads: int, seed: int, *, facility: bool = False
) -> list[dict]:
    from optimizer.instruments.generate import week_document

    rows = []
    what = "facility weeks (attended steps, clusters)" if facility else "realistic weeks"
    print(f"\n(b) {what} (seed {seed}), {threads} threads, load {_load():.1f}")
    print(
        f"{'requests':>8} {'instr':>5} {'ops':>4} {'limit':>5} {'status':>9} {'objective':>9} "
        f"{'bound':>9} {'gap':>7} {'first_s':>7} {'greedy':>8} {'ratio':>6} {'MB':>6} {'s':>6}"
    )
    for n in sizes:
        n_inst, n_ops = WEEK_SHAPES.get(n, (max(12, n // 25), max(8, n // 50)))
        doc = week_document(n, n_inst, n_ops, seed=seed, **(FACILITY if facility else {}))
        base = run_isolated(doc, {"solver": "greedy", "threads": threads, "explain": False})
        for limit in limits:
            r = run_isolated(doc, {"time_limit_s": limit, "threads": threads, "explain": False})
            ratio = (
                r["objective"] / base["objective"] if r["objective"] and base["objective"] else None
            )
            r.update(requests=n, instruments=n_inst, operators=n_ops, limit=limit, seed=seed)
            r.update(facility=facility, load=_load())
            r.update(greedy=base["objective"], ratio=ratio)
            rows.append(r)
            gap = f"{100 * r['gap']:.1f}%" if r["gap"] is not None else "-"
            print(
                f"{n:>8} {n_inst:>5} {n_ops:>4} {limit:>5g} {r['status']:>9} "
                f"{r['objective']!s:>9} {r['bound'] if r['bound'] is None else round(r['bound'], 1)!s:>9} "
                f"{gap:>7} {r['first_solution_s']!s:>7} {base['objective']!s:>8} "
                f"{'-' if ratio is None else f'{ratio:.3f}':>6} {r['peak_mb']:>6} {r['seconds']:>6}"
            )
    return rows


def repeated_runs_document(seed: int, kinds: int = 8, copies: int = 6) -> dict[str, Any]:
    """Two days on three identical NMR magnets open ten hours a day; one lab submits each of
    ``kinds`` runs ``copies`` times over (same length, weight and release): more than fits."""
    from optimizer.instruments.generate import at

    rng = random.Random(seed)
    requests = []
    for k in range(kinds):
        minutes, weight = rng.choice([60, 90, 120, 180, 240]), rng.choice([1, 2, 3, 5])
        release = at(rng.choice([0, 0, 240, 480]))
        requests += [
            {
                "id": f"run{k}-{c}",
                "institution": "uestc",
                "weight": weight,
                "release": release,
                "steps": [{"instrument_type": "nmr-600", "duration_minutes": minutes}],
            }
            for c in range(copies)
        ]
    rng.shuffle(requests)
    return {
        "kind": "instruments",
        "horizon": {"start": at(0), "end": at(2 * 1440)},
        "sites": [{"id": "uestc-qingshuihe", "institution": "uestc"}],
        "instruments": [
            {
                "id": f"nmr-{i}",
                "type": "nmr-600",
                "site": "uestc-qingshuihe",
                "changeover_minutes": 15,
                "availability": [
                    {"start": at(d * 1440), "end": at(d * 1440 + 600)} for d in range(2)
                ],
            }
            for i in range(1, 4)
        ],
        "requests": requests,
    }


def bench_symmetry(seeds: list[int], limit: float, threads: int) -> list[dict[str, Any]]:
    """Time to a proven optimum on batches of repeated runs, with and without ordering
    identical requests (optimizer.instruments.model.ScheduleModel._order_identical)."""
    rows = []
    print(f"\n(c) repeated runs, limit {limit:g} s, {threads} threads: ordered / not ordered")
    print(f"{'seed':>4} {'objective':>14} {'bound':>14} {'status':>20} {'seconds':>14}")
    options = {"time_limit_s": limit, "threads": threads, "explain": False}
    for seed in seeds:
        doc = repeated_runs_document(seed)
        on = run_isolated(doc, options)
        off = run_isolated(doc, options, symmetry=False)
        rows.append({"seed": seed, "ordered": on, "not_ordered": off})
        print(
            f"{seed:>4} {on['objective']!s:>6} / {off['objective']!s:<6} "
            f"{on['bound']!s:>6} / {off['bound']!s:<6} "
            f"{on['status']:>9} / {off['status']:<9} {on['seconds']:>6} / {off['seconds']:<6}"
        )
    return rows


def rigid_document(seed: int, n: int, machines: int, eligibility: str) -> tuple[dict, list]:
    """n rigid requests over n // 150 days on ``machines``
    NMR magnets; ``eligibility`` "all" (any magnet) or "mixed" (one, two or all)."""
    from optimizer.instruments.generate import at

    rng = random.Random(seed)
    names = [f"nmr-{m}" for m in range(1, machines + 1)]
    horizon = max(1, n // 150) * 1440
    jobs, requests = [], []
    for k in range(n):
        start = rng.randrange(0, horizon - 20)
        end = min(horizon, start + rng.randrange(10, 300))
        weight = round(rng.uniform(0.5, 9.5), 2)
        eligible = names
        if eligibility == "mixed":
            eligible = sorted(rng.choice([[rng.choice(names)], rng.sample(names, 2), names]))
        jobs.append((start, end, weight))
        requests.append(
            {
                "id": f"r{k}",
                "institution": "uestc",
                "weight": weight,
                "release": at(start),
                "deadline": at(end),
                "steps": [{"instruments": eligible, "duration_minutes": end - start}],
            }
        )
    doc = {
        "kind": "instruments",
        "horizon": {"start": at(0), "end": at(horizon)},
        "sites": [{"id": "uestc-qingshuihe", "institution": "uestc"}],
        "instruments": [{"id": x, "type": "nmr-600", "site": "uestc-qingshuihe"} for x in names],
        "requests": requests,
    }
    return doc, jobs


def bench_intervals(limit: float, threads: int) -> list[dict[str, Any]]:
    """Weighted interval scheduling (every booking time fixed) against its exact peers: the
    classic dynamic programme on one instrument, networkx's min-cost flow on identical
    instruments; with mixed eligibility (NP-hard) against the CP-SAT model of the same
    instance. The peers' times are their own, in this process."""
    from tests.instruments.test_oracles import (
        interval_scheduling_on_machines_optimum,
        weighted_interval_optimum,
    )

    rows = []
    print(f"\n(d) weighted interval scheduling, limit {limit:g} s, {threads} threads")
    print(
        f"{'case':>27} {'peer':>10} {'peer_s':>7} {'objective':>10} {'bound':>10} "
        f"{'status':>9} {'s':>6} {'ratio':>6}"
    )
    options = {"time_limit_s": limit, "threads": threads, "explain": False}
    cases = [(1, 1000, "all"), (1, 10000, "all"), (3, 3000, "all"), (4, 6000, "all")]
    cases += [(3, 1000, "mixed"), (3, 3000, "mixed")]
    for machines, n, eligibility in cases:
        doc, jobs = rigid_document(n + machines, n, machines, eligibility)
        name = f"{n} on {machines} ({eligibility})"
        started = time.perf_counter()
        if eligibility == "mixed":
            peer = run_isolated(doc, {**options, "solver": "cp-sat"})
            optimum, peer_s = peer["objective"], peer["seconds"]
            name += " vs CP-SAT"
        elif machines == 1:
            optimum = weighted_interval_optimum(jobs)
            peer_s = time.perf_counter() - started
        else:
            optimum = interval_scheduling_on_machines_optimum(jobs, machines)
            peer_s = time.perf_counter() - started
        r = run_isolated(doc, options)
        ratio = r["seconds"] / peer_s if peer_s else None
        r.update(case=name, optimum=optimum, peer_seconds=round(peer_s, 2), ratio=ratio)
        rows.append(r)
        print(
            f"{name:>27} {round(optimum, 6)!s:>10} {peer_s:>7.2f} {r['objective']!s:>10} "
            f"{r['bound']!s:>10} {r['status']:>9} {r['seconds']:>6} "
            f"{'-' if ratio is None else f'{ratio:.1f}':>6}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        choices=["all", "jsplib", "weeks", "facility", "symmetry", "intervals"],
        default="all",
    )
    parser.add_argument("--limit", type=float, default=60.0, help="JSPLIB time limit (s)")
    parser.add_argument("--limits", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 3000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="week seeds, in turn")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if args.part in ("all", "jsplib"):
        out["jsplib"] = bench_jsplib(args.limit, args.threads)
    if args.part in ("all", "weeks"):
        out["weeks"] = [
            row
            for seed in args.seed
            for row in bench_weeks(args.sizes, args.limits, args.threads, seed)
        ]
    if args.part in ("all", "facility"):  # the plain week of the same seed beside it
        sizes = [1000] if args.part == "all" else args.sizes
        out["facility"] = [
            row
            for seed in args.seed
            for facility in (False, True)
            for row in bench_weeks(sizes, args.limits, args.threads, seed, facility=facility)
        ]
    if args.part in ("all", "symmetry"):
        out["symmetry"] = bench_symmetry(list(range(8)), 30.0, args.threads)
    if args.part in ("all", "intervals"):
        out["intervals"] = bench_intervals(args.limit, args.threads)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
