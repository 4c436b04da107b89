"""Instance builders and independent oracles for the loans tests.

The oracles read the instance *document* (plain dicts with calendar dates) and apply the
contract text of FORMATS section 5 directly. Nothing here imports the candidate builder,
the model or the baseline; the brute force asks only the verifier whether a plan is legal.
"""

from __future__ import annotations

import copy
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from optimizer.core.envelope import Options, Solution
from optimizer.loans import LoansInstance, solve
from optimizer.loans.verify import verify

TOL = 1e-6
START = date(2026, 12, 1)
# Tests run next to other work on a small machine: one thread, a short limit.
TEST_OPTIONS: dict[str, Any] = {"time_limit_s": 10, "threads": 1}


def iso(day: int) -> str:
    return (START + timedelta(days=day)).isoformat()


def now_on(day: int) -> datetime:
    """Six in the evening (UTC) of day ``day``: a loan shipping that day has left."""
    start = START + timedelta(days=day)
    return datetime(start.year, start.month, start.day, 18, 0, tzinfo=UTC)


def document(
    libraries: list[dict[str, Any]] | list[str],
    copies: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    shipping: list[dict[str, Any]],
    *,
    days: int = 30,
    unfilled: float = 100.0,
    late_per_day: float = 5.0,
    keep_one_on_shelf: bool = False,
    max_imbalance: int | None = None,
) -> dict[str, Any]:
    libs = [x if isinstance(x, dict) else {"id": x} for x in libraries]
    return {
        "kind": "loans",
        "name": "test",
        "horizon": {"start": iso(0), "end": iso(days - 1)},
        "libraries": libs,
        "copies": copies,
        "requests": requests,
        "shipping": shipping,
        "penalties": {"unfilled": unfilled, "late_per_day": late_per_day},
        "policies": {"keep_one_on_shelf": keep_one_on_shelf, "max_imbalance": max_imbalance},
    }


def run(doc: dict[str, Any], **options: Any) -> Solution:
    instance = LoansInstance.model_validate(doc)
    return solve(instance, Options(**{**TEST_OPTIONS, **options}))


# ------------------------------------------------------------------ random instances


def random_document(
    seed: int,
    *,
    libraries: int = 4,
    titles: int = 3,
    copies: int = 5,
    requests: int = 4,
    days: int = 12,
    loan_days: tuple[int, int] = (1, 4),
    route_density: float = 0.8,
    policies: bool = True,
) -> dict[str, Any]:
    """A small random instance; shipping days and loans short enough for copies to be reused."""
    rng = random.Random(seed)
    libs = [f"L{i}" for i in range(libraries)]
    names = [f"T{i}" for i in range(titles)]
    copy_docs = []
    for k in range(copies):
        doc: dict[str, Any] = {
            "id": f"c{k}",
            "library": rng.choice(libs),
            "title": rng.choice(names),
        }
        if rng.random() < 0.25:
            doc["available_from"] = iso(rng.randint(0, days // 2))
        if policies and rng.random() < 0.1:
            doc["lendable"] = False
        copy_docs.append(doc)
    request_docs = []
    for k in range(requests):
        opened = rng.randint(0, days // 2)
        request_docs.append(
            {
                "id": f"q{k}",
                "library": rng.choice(libs),
                "titles": rng.sample(names, rng.choice((1, 1, 2))),
                "requested_on": iso(opened),
                "needed_by": iso(opened + rng.randint(0, 4)),
                "loan_days": rng.randint(*loan_days),
                "weight": rng.choice((1.0, 1.5, 2.0)),
            }
        )
    shipping = []
    for a, b in itertools.combinations(libs, 2):
        if rng.random() < route_density:
            shipping.append(
                {"from": a, "to": b, "days": rng.randint(0, 2), "cost": float(rng.randint(1, 30))}
            )
            if rng.random() < 0.2:
                shipping.append(
                    {
                        "from": b,
                        "to": a,
                        "days": rng.randint(0, 3),
                        "cost": float(rng.randint(1, 30)),
                    }
                )
    lib_docs: list[dict[str, Any]] = [{"id": x} for x in libs]
    if policies and rng.random() < 0.4:
        rng.choice(lib_docs)["max_outgoing"] = rng.randint(0, 2)
    return document(
        lib_docs,
        copy_docs,
        request_docs,
        shipping,
        days=days,
        unfilled=float(rng.choice((40, 60, 100))),
        late_per_day=float(rng.choice((0, 2, 5))),
        keep_one_on_shelf=policies and rng.random() < 0.3,
        max_imbalance=rng.choice((None, None, 0, 1)) if policies else None,
    )


# ------------------------------------------------------------------ oracles


def _routes(doc: dict[str, Any]) -> dict[tuple[str, str], tuple[int, float]]:
    table = {(s["from"], s["to"]): (s["days"], s["cost"]) for s in doc["shipping"]}
    for (a, b), value in list(table.items()):
        table.setdefault((b, a), value)
    return table


def _day(text: str | None, start: date) -> int:
    return 0 if text is None else max(0, (date.fromisoformat(text) - start).days)


def assignment_objective(doc: dict[str, Any]) -> float:
    """Exact optimum of a single-use instance with scipy's linear_sum_assignment.

    Valid when no copy can serve two loans in the horizon and no policy applies: each
    request takes one copy (at its earliest ship day, since later only adds lateness) or
    pays the penalty.
    """
    start = date.fromisoformat(doc["horizon"]["start"])
    last = (date.fromisoformat(doc["horizon"]["end"]) - start).days
    routes = _routes(doc)
    pen = doc["penalties"]
    reqs, copies = doc["requests"], [c for c in doc["copies"] if c.get("lendable", True)]
    big = 1e9
    n, m = len(reqs), len(copies)
    matrix = np.full((n, m + n), big)
    for i, r in enumerate(reqs):
        weight = r.get("weight", 1.0)
        matrix[i, m + i] = pen["unfilled"] * weight
        for j, c in enumerate(copies):
            key = (c["library"], r["library"])
            if c["title"] not in r["titles"] or c["library"] == r["library"] or key not in routes:
                continue
            ship = max(_day(r.get("requested_on"), start), _day(c.get("available_from"), start))
            if ship > last:
                continue
            days, cost = routes[key]
            late = max(0, ship + days - (date.fromisoformat(r["needed_by"]) - start).days)
            matrix[i, j] = cost + pen["late_per_day"] * weight * late
    rows, cols = linear_sum_assignment(matrix)
    total = float(matrix[rows, cols].sum())
    assert total < big
    return total


def brute_force_objective(
    doc: dict[str, Any], *, change_penalty: float = 0.0, now: date | None = None
) -> float:
    """Exact optimum of a tiny instance: every (copy, ship day) choice per request, judged
    by the verifier. With ``previous`` in ``doc``, each previous loan not made again with
    the same lender, copy and ship day adds ``change_penalty``, and those shipped by ``now``
    must be made again (inf when no plan can)."""
    instance = LoansInstance.model_validate(doc)
    before = {
        x["request"]: (x["lender"], x["copy"], x["ship"])
        for x in (doc.get("previous") or {}).get("loans", [])
    }
    frozen = {
        rid
        for rid, (_, _, ship) in before.items()
        if now is not None and date.fromisoformat(ship) <= now
    }
    start = date.fromisoformat(doc["horizon"]["start"])
    last = (date.fromisoformat(doc["horizon"]["end"]) - start).days
    routes = _routes(doc)
    options: list[list[dict[str, Any] | None]] = []
    for r in doc["requests"]:
        mine: list[dict[str, Any] | None] = [None]
        for c in doc["copies"]:
            key = (c["library"], r["library"])
            if (
                not c.get("lendable", True)
                or c["title"] not in r["titles"]
                or c["library"] == r["library"]
                or key not in routes
            ):
                continue
            first = max(_day(r.get("requested_on"), start), _day(c.get("available_from"), start))
            out, cost = routes[key]
            back, _ = routes[(r["library"], c["library"])]
            for ship in range(first, last + 1):
                arrive = ship + out
                due = arrive + r.get("loan_days", 28)
                need = (date.fromisoformat(r["needed_by"]) - start).days
                mine.append(
                    {
                        "request": r["id"],
                        "copy": c["id"],
                        "lender": c["library"],
                        "title": c["title"],
                        "ship": iso(ship),
                        "arrive": iso(arrive),
                        "due_back": iso(due),
                        "home": iso(due + back),
                        "late_days": max(0, arrive - need),
                        "cost": cost,
                    }
                )
        options.append(mine)
    best = float("inf")
    for choice in itertools.product(*options):
        loans = [x for x in choice if x is not None]
        filled = {x["request"] for x in loans}
        plan = {
            "loans": loans,
            "unfilled": [r["id"] for r in doc["requests"] if r["id"] not in filled],
        }
        after = {x["request"]: (x["lender"], x["copy"], x["ship"]) for x in loans}
        if any(after.get(rid) != before[rid] for rid in frozen):
            continue
        check = verify(instance, plan)
        if check.valid and check.objective is not None:
            changed = sum(1 for rid, value in before.items() if after.get(rid) != value)
            best = min(best, check.objective + change_penalty * changed)
    return best


def time_indexed_lp(doc: dict[str, Any]) -> float:
    """The LP relaxation over every (request, lending library, title, ship day), built from
    the document with scipy: the value column generation must reach when it converges.

    Copies of one title at one library are interchangeable, so the variables name the
    library and title; on every day the loans out of it are at most the lendable copies
    released by then (one fewer with keep_one_on_shelf).
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    start = date.fromisoformat(doc["horizon"]["start"])
    last = (date.fromisoformat(doc["horizon"]["end"]) - start).days
    routes = _routes(doc)
    policies, penalties = doc["policies"], doc["penalties"]
    keep = 1 if policies.get("keep_one_on_shelf") else 0
    released: dict[tuple[str, str], list[int]] = {}
    for c in doc["copies"]:
        if c.get("lendable", True):
            day = _day(c.get("available_from"), start)
            released.setdefault((c["library"], c["title"]), []).append(day)

    def capacity(pool: tuple[str, str], t: int) -> int:
        return max(0, sum(1 for d in released[pool] if d <= t) - keep)

    columns: list[tuple[int, tuple[str, str], int, int, float]] = []  # q, pool, day, busy, cost
    for q, r in enumerate(doc["requests"]):
        opened = _day(r.get("requested_on"), start)
        need = _day(r["needed_by"], start)
        weight = r.get("weight", 1.0)
        for pool in released:
            lender, title = pool
            if title not in r["titles"] or lender == r["library"]:
                continue
            if (lender, r["library"]) not in routes or (r["library"], lender) not in routes:
                continue
            out, cost = routes[(lender, r["library"])]
            back = routes[(r["library"], lender)][0]
            for d in range(max(opened, min(released[pool])), last + 1):
                late = max(0, d + out - need)
                price = cost + penalties["late_per_day"] * weight * late
                columns.append((q, pool, d, out + r.get("loan_days", 28) + back, price))
    penalty = [penalties["unfilled"] * r.get("weight", 1.0) for r in doc["requests"]]
    rows: list[tuple[list[int], list[float], float, float]] = []
    by_request: dict[int, list[int]] = {}
    for j, (q, *_rest) in enumerate(columns):
        by_request.setdefault(q, []).append(j)
    rows += [(js, [1.0] * len(js), -np.inf, 1.0) for js in by_request.values()]
    for pool in released:
        mine = [j for j, c in enumerate(columns) if c[1] == pool]
        for t in range(last + 1):
            out_then = [j for j in mine if columns[j][2] <= t < columns[j][2] + columns[j][3]]
            if out_then:
                rows.append((out_then, [1.0] * len(out_then), -np.inf, capacity(pool, t)))
    library = {q: r["library"] for q, r in enumerate(doc["requests"])}
    for lib in doc["libraries"]:
        lent = [j for j, c in enumerate(columns) if c[1][0] == lib["id"]]
        if lib.get("max_outgoing") is not None:
            rows.append((lent, [1.0] * len(lent), -np.inf, lib["max_outgoing"]))
        k = policies.get("max_imbalance")
        if k is not None:
            got = [j for j, c in enumerate(columns) if library[c[0]] == lib["id"]]
            rows.append((lent + got, [1.0] * len(lent) + [-1.0] * len(got), -k, k))
    if not columns:
        return float(sum(penalty))
    row_i = [i for i, (js, _, _, _) in enumerate(rows) for _ in js]
    col_j = [j for js, _, _, _ in rows for j in js]
    value = [v for _, vs, _, _ in rows for v in vs]
    a = coo_matrix((value, (row_i, col_j)), shape=(len(rows), len(columns))).tocsr()
    lo = np.array([lo for *_, lo, _ in rows])
    hi = np.array([hi for *_, hi in rows])
    c = np.array([price - penalty[q] for q, _, _, _, price in columns])
    upper_rows = np.isfinite(hi)
    lower_rows = np.isfinite(lo)
    from scipy.sparse import vstack

    a_ub = vstack([a[upper_rows], -a[lower_rows]])
    b_ub = np.concatenate([hi[upper_rows], -lo[lower_rows]])
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    assert result.status == 0, result.message
    return float(result.fun + sum(penalty))


def loan_by_hand(
    rng: random.Random, doc: dict[str, Any], previous: dict[str, Any]
) -> dict[str, Any] | None:
    """Now and then, a loan an earlier plan may have made by hand: a copy of a title the
    request takes, from another library, shipped on one of the first seven days, for a
    request the plan left unfilled and a copy it does not lend."""
    lent = {x["copy"] for x in previous["loans"]}
    filled = {x["request"] for x in previous["loans"]}
    by_hand = [
        (r, c)
        for r in doc["requests"]
        for c in doc["copies"]
        if r["id"] not in filled
        and c["id"] not in lent
        and c["title"] in r["titles"]
        and c["library"] != r["library"]
    ]
    if not by_hand or rng.random() >= 0.7:
        return None
    r, c = rng.choice(by_hand)
    return {
        "request": r["id"],
        "copy": c["id"],
        "lender": c["library"],
        "ship": iso(rng.randint(0, 6)),
    }


def changed_instance(
    rng: random.Random, doc: dict[str, Any], links: str = "shipping"
) -> dict[str, Any]:
    """``doc`` after something happened: a copy gone, a route (or, with ``links``
    "couriers", a courier) closed, a new due date."""
    doc = copy.deepcopy(doc)
    if doc["copies"] and rng.random() < 0.4:
        doc["copies"].pop(rng.randrange(len(doc["copies"])))
    if doc[links] and rng.random() < 0.3:
        doc[links].pop(rng.randrange(len(doc[links])))
    if rng.random() < 0.3:
        rng.choice(doc["requests"])["needed_by"] = iso(rng.randint(0, 6))
    return doc
