"""Small random loans instances with couriers, and a brute force over every plan of them.

The brute force reads the instance document with calendar dates and applies contract 7.7
directly: nothing here imports the model, its timetable or the baseline. It tries every
choice of (copy, courier, ship day) or none per request, keeps the plans that meet every
rule, and prices them itself; the verifier then judges the best one.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from .helpers import iso

Option = tuple[str, str, date] | None  # (copy, courier, ship day), or unfilled


def random_courier_document(seed: int, *, requests: int = 4) -> dict[str, Any]:
    """3-4 libraries, 3-5 copies of 1-3 titles, ``requests`` requests over a horizon of
    8-12 days, couriers on most directions, some closed days."""
    rng = random.Random(seed)
    libs = ["A", "B", "C", "D"][: rng.choice((3, 4))]
    titles = ["T1", "T2", "T3"][: rng.choice((1, 2, 2, 3))]
    days = rng.randint(8, 12)
    copies = []
    for k in range(rng.randint(3, 5)):
        doc: dict[str, Any] = {
            "id": f"c{k}",
            "library": rng.choice(libs),
            "title": rng.choice(titles),
        }
        if rng.random() < 0.3:
            doc["available_from"] = iso(rng.randint(1, 5))
        copies.append(doc)
    reqs = []
    for q in range(requests):
        opened = rng.randint(0, 4)
        reqs.append(
            {
                "id": f"q{q}",
                "library": rng.choice(libs),
                "titles": rng.sample(titles, min(len(titles), rng.choice((1, 1, 2)))),
                "requested_on": iso(opened),
                "needed_by": iso(opened + rng.randint(1, 6)),
                "loan_days": rng.randint(2, 6),
                "weight": rng.choice((1.0, 1.0, 2.0)),
            }
        )
    couriers = []
    for a, b in itertools.permutations(libs, 2):
        if rng.random() < 0.85:
            couriers.append(
                {
                    "id": f"{a}{b}",
                    "from": a,
                    "to": b,
                    "weekdays": rng.sample(range(1, 8), rng.choice((2, 2, 3))),
                    "days": rng.randint(0, 3),
                    "capacity": rng.choice((1, 1, 2, 3)),
                    "cost_per_run": float(rng.choice((0, 10, 25, 40))),
                }
            )
    libraries: list[dict[str, Any]] = []
    for x in libs:
        lib: dict[str, Any] = {"id": x}
        if rng.random() < 0.3:
            lib["closed_weekdays"] = [rng.randint(1, 7)]
        if rng.random() < 0.3:
            lib["closed_dates"] = [iso(rng.randint(0, 20))]
        if rng.random() < 0.15:
            lib["max_outgoing"] = 1
        libraries.append(lib)
    return {
        "kind": "loans",
        "name": f"couriers-{seed}",
        "horizon": {"start": iso(0), "end": iso(days - 1)},
        "libraries": libraries,
        "copies": copies,
        "requests": reqs,
        "couriers": couriers,
        "handling_cost": float(rng.choice((0, 1, 2.5))),
        "penalties": {"unfilled": float(rng.choice((60, 100, 150))), "late_per_day": 5.0},
        "policies": {
            "keep_one_on_shelf": rng.random() < 0.15,
            "max_imbalance": 1 if rng.random() < 0.15 else None,
        },
    }


class Calendar:
    """Courier runs of an instance document, in dates."""

    def __init__(self, doc: dict[str, Any]):
        self.couriers = doc["couriers"]
        self.closed_days = {
            x["id"]: (
                set(x.get("closed_weekdays", [])),
                {date.fromisoformat(d) for d in x.get("closed_dates", [])},
            )
            for x in doc["libraries"]
        }

    def open(self, library: str, day: date) -> bool:
        weekdays, dates = self.closed_days[library]
        return day.isoweekday() not in weekdays and day not in dates

    def runs(self, k: dict[str, Any], day: date) -> bool:
        return (
            day.isoweekday() in k["weekdays"]
            and self.open(k["from"], day)
            and self.open(k["to"], day + timedelta(days=k["days"]))
        )

    def back(self, borrower: str, lender: str, due: date) -> tuple[dict[str, Any], date] | None:
        """The first run back on or after ``due`` (the documents' closed dates are all
        within 40 days of the start, so 60 days of search see every run there is)."""
        ways = [k for k in self.couriers if (k["from"], k["to"]) == (borrower, lender)]
        for step in range(60):
            day = due + timedelta(days=step)
            running = [k for k in ways if self.runs(k, day)]
            if running:
                return min(running, key=lambda k: (k["days"], ways.index(k))), day
        return None


def brute_force(
    doc: dict[str, Any], *, change_penalty: float = 0.0, now: date | None = None
) -> float:
    """The least objective over every plan of the document. With ``previous`` in ``doc``,
    each previous loan not made again with the same copy, lender and ship day adds
    ``change_penalty``; those shipped by ``now`` must be made again so, on the courier
    they name (else the first run that day: the shortest, then the courier listed first),
    and inf is returned when no plan can."""
    cal = Calendar(doc)
    before = {
        x["request"]: (x["lender"], x["copy"], date.fromisoformat(x["ship"]))
        for x in (doc.get("previous") or {}).get("loans", [])
    }
    frozen = {
        x["request"]: x.get("courier")
        for x in (doc.get("previous") or {}).get("loans", [])
        if now is not None and date.fromisoformat(x["ship"]) <= now
    }
    start = date.fromisoformat(doc["horizon"]["start"])
    end = date.fromisoformat(doc["horizon"]["end"])
    copies = {c["id"]: c for c in doc["copies"]}
    libraries = {x["id"]: x for x in doc["libraries"]}
    pen = doc["penalties"]
    handling = doc["handling_cost"]
    policies = doc["policies"]
    options: list[list[Option]] = []
    for r in doc["requests"]:
        mine: list[Option] = [None]
        for c in doc["copies"]:
            if c.get("lendable", True) is False or c["title"] not in r["titles"]:
                continue
            if c["library"] == r["library"]:
                continue
            first = max(
                date.fromisoformat(r["requested_on"]),
                date.fromisoformat(c.get("available_from", doc["horizon"]["start"])),
            )
            day = first
            while day <= end:
                for k in cal.couriers:
                    if (k["from"], k["to"]) == (c["library"], r["library"]) and cal.runs(k, day):
                        mine.append((c["id"], k["id"], day))
                day += timedelta(days=1)
        options.append(mine)
    by_id = {k["id"]: k for k in cal.couriers}
    borrower = {r["id"]: r["library"] for r in doc["requests"]}

    def frozen_kept(rid: str, opt: Option) -> bool:
        if opt is None:
            return False
        cid, kid, ship = opt
        if (copies[cid]["library"], cid, ship) != before[rid]:
            return False
        named = frozen[rid]
        if named is None:
            lender = copies[cid]["library"]
            ways = [k for k in cal.couriers if (k["from"], k["to"]) == (lender, borrower[rid])]
            running = [k for k in ways if cal.runs(k, ship)]
            named = min(running, key=lambda k: (k["days"], ways.index(k)))["id"]
        return kid == named

    best: float | None = None
    for choice in itertools.product(*options):
        after = {
            r["id"]: (copies[opt[0]]["library"], opt[0], opt[2])
            for r, opt in zip(doc["requests"], choice, strict=True)
            if opt is not None
        }
        picked = {r["id"]: opt for r, opt in zip(doc["requests"], choice, strict=True)}
        if any(not frozen_kept(rid, picked.get(rid)) for rid in frozen):
            continue
        total = change_penalty * sum(1 for rid, v in before.items() if after.get(rid) != v)
        legs: dict[tuple[str, date], int] = defaultdict(int)
        busy: dict[str, list[tuple[date, date]]] = defaultdict(list)
        lent: dict[str, int] = defaultdict(int)
        received: dict[str, int] = defaultdict(int)
        ok = True
        for r, opt in zip(doc["requests"], choice, strict=True):
            if opt is None:
                total += pen["unfilled"] * r["weight"]
                continue
            cid, kid, ship = opt
            lender = copies[cid]["library"]
            arrive = ship + timedelta(days=by_id[kid]["days"])
            back = cal.back(r["library"], lender, arrive + timedelta(days=r["loan_days"]))
            if back is None:
                ok = False
                break
            home_courier, home_ship = back
            home = home_ship + timedelta(days=home_courier["days"])
            legs[(kid, ship)] += 1
            legs[(home_courier["id"], home_ship)] += 1
            busy[cid].append((ship, home))
            lent[lender] += 1
            received[r["library"]] += 1
            late = max(0, (arrive - date.fromisoformat(r["needed_by"])).days)
            total += 2 * handling + pen["late_per_day"] * r["weight"] * late
        if not ok:
            continue
        if any(n > by_id[kid]["capacity"] for (kid, _), n in legs.items()):
            continue
        if any(
            s2 < h1
            for spans in busy.values()
            for (s1, h1), (s2, _h2) in itertools.combinations(sorted(spans), 2)
        ):
            continue
        if any(
            x.get("max_outgoing") is not None and lent[i] > x["max_outgoing"]
            for i, x in libraries.items()
        ):
            continue
        k = policies.get("max_imbalance")
        if k is not None and any(abs(lent[i] - received[i]) > k for i in libraries):
            continue
        if policies.get("keep_one_on_shelf") and not _shelf_kept(doc, busy, start):
            continue
        total += sum(by_id[kid]["cost_per_run"] for kid, _ in legs)
        best = total if best is None else min(best, total)
    if best is None:  # leaving every request unfilled meets the rules, but not frozen loans
        assert frozen
        return float("inf")
    return best


def _shelf_kept(doc: dict[str, Any], busy: dict[str, list[tuple[date, date]]], start: date) -> bool:
    """On every day a copy of a (library, title) is out, another released one is home."""
    group: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in doc["copies"]:
        if c.get("lendable", True):
            group[(c["library"], c["title"])].append(c)
    for members in group.values():
        for c in members:
            for s, h in busy.get(c["id"], []):
                day = s
                while day < h:
                    home = [
                        o
                        for o in members
                        if date.fromisoformat(o.get("available_from", start.isoformat())) <= day
                        and not any(s2 <= day < h2 for s2, h2 in busy.get(o["id"], []))
                    ]
                    if not home:
                        return False
                    day += timedelta(days=1)
    return True


def plan_count(doc: dict[str, Any]) -> int:
    """How many plans the brute force would try (to keep the tests' instances small)."""
    total = 1
    cal = Calendar(doc)
    end = date.fromisoformat(doc["horizon"]["end"])
    for r in doc["requests"]:
        n = 1
        for c in doc["copies"]:
            if c["title"] in r["titles"] and c["library"] != r["library"]:
                day = date.fromisoformat(r["requested_on"])
                while day <= end:
                    n += sum(
                        1
                        for k in cal.couriers
                        if (k["from"], k["to"]) == (c["library"], r["library"]) and cal.runs(k, day)
                    )
                    day += timedelta(days=1)
        total *= n
    return total
