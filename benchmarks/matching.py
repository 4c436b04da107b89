"""Matching benchmark: UniShare against networkx's exact blossom, and consortia at scale.

Run: ``python -m benchmarks.matching`` (about five minutes; networkx takes most of it), or
``python -m benchmarks.matching --sizes 500 1000 --groups 30`` for a shorter run.

Pairs: seeded random instances, n institutions with about k candidate partners each and
explicit scores. "ours" is the wall time of the whole ``solve()`` call (validation,
candidates, solve, verification, explanations); "cli" is a fresh ``unishare solve`` process
on the instance file (start-up, JSON in and out); "networkx" is ``max_weight_matching`` on the
same graph. Objectives must be equal: both are exact.

Groups: complete random score graphs split into alliances of 3-5 within 60 s: status, gap.

Fairness: the pairs instances placed in 12 regions, with a minimum matched share per region,
through a fresh ``unishare solve`` process (default 30 s limit): once with minimums the
unconstrained optimum already meets, once with the even regions scoring low among
themselves and minimums that bind.

Periods: the pairs instances planned over three periods in one solve (contract 5.4.4), one
in ten institutions sitting the last period out, under each rule; the baseline, in the same
run, is a fresh ``unishare solve`` of one period. Three times the one-period optimum bounds
each periods plan from above; the ratio of times is the cost of planning three at once.

Dated results: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx

from optimizer.matching import MatchingInstance, solve
from optimizer.matching.generate import groups_document, pairs_document


def networkx_matching(document: dict) -> tuple[float, float]:
    """(objective, seconds) of networkx's exact maximum-weight matching."""
    graph = nx.Graph()
    graph.add_nodes_from(x["id"] for x in document["institutions"])
    for entry in document["scores"]:
        graph.add_edge(entry["a"], entry["b"], weight=entry["score"])
    started = time.perf_counter()
    matching = nx.max_weight_matching(graph)
    seconds = time.perf_counter() - started
    return sum(graph[a][b]["weight"] for a, b in matching), seconds


def ours(document: dict, time_limit: float = 60.0) -> tuple[str, float | None, float | None, float]:
    """(status, objective, gap, seconds) of the whole solve() call, parsing included."""
    started = time.perf_counter()
    instance = MatchingInstance.model_validate(document)
    instance.options.time_limit_s = time_limit
    solution = solve(instance)
    return solution.status.value, solution.objective, solution.gap, time.perf_counter() - started


def cli_run(document: dict) -> tuple[float, dict]:
    """Wall time of a fresh ``unishare solve`` process on the document written to a file,
    and the solution document it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instance.json"
        path.write_text(json.dumps(document))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "optimizer", "solve", str(path), "-o", folder],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - started
        return seconds, json.loads((Path(folder) / "instance.solution.json").read_text())


def cli_seconds(document: dict) -> float:
    """Wall time of a fresh ``unishare solve`` process on the document written to a file."""
    return cli_run(document)[0]


REGIONS = 12


def fair_document(n: int, k: int, seed: int, share: float, binding: bool) -> dict:
    """``pairs_document`` in 12 regions with a minimum matched share in each; ``binding``
    scales the scores among the even regions' institutions by 0.1, so the unconstrained
    optimum leaves more of them unmatched than the minimums allow."""
    document = pairs_document(n, k=k, seed=seed, regions=REGIONS)
    if binding:
        low = {x["id"] for x in document["institutions"] if int(x["region"][1:]) % 2 == 0}
        for entry in document["scores"]:
            if entry["a"] in low and entry["b"] in low:
                entry["score"] = round(entry["score"] * 0.1, 4)
    document["fairness"] = {
        "minimums": [{"group": f"r{g:02d}", "share": share} for g in range(REGIONS)]
    }
    return document


def run_fair(sizes: list[int], k: int, seed: int) -> None:
    print(f"\n## Pairs with fairness minimums: {REGIONS} regions, about {k} candidates each\n")
    print("| n | minimums | status | solver | objective | bound | price | worst share | cli s |")
    print("|---:|---|---|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        for share, binding, label in (
            (0.9, False, "share 0.9, met"),
            (0.98, True, "share 0.98, binding"),
        ):
            seconds, solution = cli_run(fair_document(n, k, seed, share, binding))
            kpis = solution["kpis"]
            price = kpis["price_of_rules"]["all"]["price"]
            print(
                f"| {n} | {label} | {solution['status']} | {solution['run']['solver']} "
                f"| {solution['objective']:.4f} | {solution['bound']:.4f} | {price:.4f} "
                f"| {kpis['worst_off']['value']:.4f} | {seconds:.2f} |",
                flush=True,
            )


PERIODS = 3


def periods_document(n: int, k: int, seed: int, rule: str) -> dict:
    """``pairs_document`` over three periods; every tenth institution has no partner in
    the last one."""
    document = pairs_document(n, k=k, seed=seed)
    capacity = {x["id"]: [1, 1, 0] for x in document["institutions"][::10]}
    document["periods"] = {"count": PERIODS, "rule": rule, "capacity": capacity}
    document["options"] = {"time_limit_s": 120}
    return document


def run_periods(sizes: list[int], k: int, seed: int) -> None:
    print(f"\n## Periods: {PERIODS} periods in one solve, about {k} candidates each\n")
    print(
        "| n | rule | status | objective | bound | 3 × one period | price of the rule "
        "| one period cli s | periods cli s | time ratio |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        one_seconds, one = cli_run(pairs_document(n, k=k, seed=seed))
        for rule in ("new_partner", "keep"):
            seconds, solution = cli_run(periods_document(n, k, seed, rule))
            price = solution["kpis"]["price_of_rules"]["rule"]
            shown = "–" if price["price"] is None else f"{price['price']:.4f}"
            shown += "" if price["exact"] else " (not proven)"
            print(
                f"| {n} | {rule} | {solution['status']} | {solution['objective']:.4f} "
                f"| {solution['bound']:.4f} | {PERIODS * one['objective']:.4f} | {shown} "
                f"| {one_seconds:.2f} | {seconds:.2f} | {seconds / one_seconds:.1f}x |",
                flush=True,
            )


def run_pairs(sizes: list[int], k: int, seed: int) -> None:
    print(f"\n## Pairs: capacity 1, about {k} candidates each (seed {seed})\n")
    print(
        "| n | pairs | ours s | cli s | networkx s | ours objective | networkx objective "
        "| equal | speed-up (networkx / ours) | speed-up (networkx / cli) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|")
    for n in sizes:
        document = pairs_document(n, k=k, seed=seed)
        status, objective, _, seconds = ours(document)
        cli = cli_seconds(document)
        nx_objective, nx_seconds = networkx_matching(document)
        equal = objective is not None and abs(objective - nx_objective) <= 1e-6
        print(
            f"| {n} | {len(document['scores'])} | {seconds:.2f} | {cli:.2f} | {nx_seconds:.2f} "
            f"| {objective:.4f} ({status}) | {nx_objective:.4f} | {'yes' if equal else 'NO'} "
            f"| {nx_seconds / seconds:.1f}x | {nx_seconds / cli:.1f}x |",
            flush=True,
        )


def run_groups(sizes: list[int], seed: int, time_limit: float) -> None:
    print(f"\n## Groups: complete random score graphs, alliances of 3-5, {time_limit:.0f} s\n")
    print("| n | candidate groups | status | objective | gap | seconds |")
    print("|---:|---:|---|---:|---:|---:|")
    from math import comb

    for n in sizes:
        document = groups_document(n, seed=seed)
        status, objective, gap, seconds = ours(document, time_limit)
        columns = sum(comb(n, size) for size in range(3, 6))
        shown = "–" if objective is None else f"{objective:.4f}"
        gap_shown = "–" if gap is None else f"{gap:.3%}"
        print(
            f"| {n} | {columns:,} | {status} | {shown} | {gap_shown} | {seconds:.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[500, 1000, 2000])
    parser.add_argument("--k", type=int, default=10, help="about k candidates per institution")
    parser.add_argument("--groups", type=int, nargs="*", default=[30, 60])
    parser.add_argument("--groups-time-limit", type=float, default=60.0)
    parser.add_argument("--fair", type=int, nargs="*", default=[2000])
    parser.add_argument("--periods", type=int, nargs="*", default=[500])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("# UniShare matching benchmark")
    print(f"\nPython {sys.version.split()[0]}, networkx {nx.__version__}")
    if args.sizes:
        run_pairs(args.sizes, args.k, args.seed)
    if args.groups:
        run_groups(args.groups, args.seed, args.groups_time_limit)
    if args.fair:
        run_fair(args.fair, args.k, args.seed)
    if args.periods:
        run_periods(args.periods, args.k, args.seed)


if __name__ == "__main__":
    main()
