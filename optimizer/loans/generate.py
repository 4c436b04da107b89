"""Seeded loans instances: a consortium of university libraries in western China.

Courier days and costs follow the great-circle distance between cities (one day within a
city, a day more per ~700 km, two more for Lhasa); titles follow a Zipf popularity, so a
few titles are wanted by many libraries at once; some copies are on loan until the middle
of the horizon; a few libraries cap how many loans they ship.

Used by ``instances/loans/`` (the western consortium), by the tests and by
``benchmarks/loans.py``. Run ``python -m optimizer.loans.generate`` from the repository root
to rewrite the western consortium.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import date, timedelta
from typing import Any

# (city, latitude, longitude)
CITIES = {
    "chongqing": (29.56, 106.55),
    "chengdu": (30.66, 104.07),
    "yaan": (29.98, 103.00),
    "xian": (34.26, 108.94),
    "lanzhou": (36.06, 103.83),
    "urumqi": (43.83, 87.62),
    "kunming": (25.04, 102.71),
    "guiyang": (26.65, 106.63),
    "nanning": (22.82, 108.32),
    "lhasa": (29.65, 91.13),
    "xining": (36.62, 101.78),
    "yinchuan": (38.49, 106.23),
    "hohhot": (40.84, 111.75),
    "mianyang": (31.47, 104.68),
    "shihezi": (44.31, 86.05),
}

# (library id, institution, name, city)
WESTERN_LIBRARIES = [
    ("cqu-lib", "cqu", "Chongqing University Library", "chongqing"),
    ("swu-lib", "swu", "Southwest University Library", "chongqing"),
    ("cqmu-lib", "cqmu", "Chongqing Medical University Library", "chongqing"),
    ("scu-lib", "scu", "Sichuan University Library", "chengdu"),
    ("uestc-lib", "uestc", "UESTC Library", "chengdu"),
    ("swjtu-lib", "swjtu", "Southwest Jiaotong University Library", "chengdu"),
    ("swufe-lib", "swufe", "Southwestern University of Finance and Economics Library", "chengdu"),
    ("sicau-lib", "sicau", "Sichuan Agricultural University Library", "yaan"),
    ("swust-lib", "swust", "Southwest University of Science and Technology Library", "mianyang"),
    ("xjtu-lib", "xjtu", "Xi'an Jiaotong University Library", "xian"),
    ("nwpu-lib", "nwpu", "Northwestern Polytechnical University Library", "xian"),
    ("xidian-lib", "xidian", "Xidian University Library", "xian"),
    ("nwu-lib", "nwu", "Northwest University Library", "xian"),
    ("snnu-lib", "snnu", "Shaanxi Normal University Library", "xian"),
    ("lzu-lib", "lzu", "Lanzhou University Library", "lanzhou"),
    ("xju-lib", "xju", "Xinjiang University Library", "urumqi"),
    ("shzu-lib", "shzu", "Shihezi University Library", "shihezi"),
    ("ynu-lib", "ynu", "Yunnan University Library", "kunming"),
    ("kust-lib", "kust", "Kunming University of Science and Technology Library", "kunming"),
    ("gzu-lib", "gzu", "Guizhou University Library", "guiyang"),
    ("gxu-lib", "gxu", "Guangxi University Library", "nanning"),
    ("utibet-lib", "utibet", "Tibet University Library", "lhasa"),
    ("qhu-lib", "qhu", "Qinghai University Library", "xining"),
    ("nxu-lib", "nxu", "Ningxia University Library", "yinchuan"),
    ("imu-lib", "imu", "Inner Mongolia University Library", "hohhot"),
]


def km(a: str, b: str) -> float:
    (lat1, lon1), (lat2, lon2) = CITIES[a], CITIES[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def courier(a: str, b: str) -> tuple[int, float]:
    """Days and cost (yuan) of a parcel between two cities."""
    d = km(a, b)
    days = 1 + round(d / 700) + (2 if "lhasa" in (a, b) and a != b else 0)
    cost = round(8.0 + 0.012 * d, 1) if a != b else 6.0
    return days, cost


def _libraries(n: int) -> list[tuple[str, str, str, str]]:
    libs = list(WESTERN_LIBRARIES[:n])
    cities = list(CITIES)
    k = 0
    while len(libs) < n:
        city = cities[k % len(cities)]
        libs.append((f"{city}-{k:03d}-lib", f"{city}-{k:03d}", f"College library {k}", city))
        k += 1
    return libs


def loans_document(
    requests: int,
    *,
    libraries: int | None = None,
    copies: int | None = None,
    seed: int = 0,
    days: int = 61,
    start: date = date(2026, 12, 1),
    capped: int = 4,
    name: str | None = None,
) -> dict[str, Any]:
    """A consortium with ``requests`` requests; libraries and copies scale with it."""
    rng = random.Random(seed)
    n_lib = libraries or max(25, requests // 100)
    n_copies = copies or max(50, int(3.75 * requests))
    n_titles = max(10, int(n_copies / 2.6))
    libs = _libraries(n_lib)
    city = {x[0]: x[3] for x in libs}
    lib_ids = [x[0] for x in libs]
    size = {x: rng.choice((1, 1, 2, 2, 3, 4)) for x in lib_ids}  # collection size weight

    titles = [f"isbn:97870{rng.randrange(10**7, 10**8)}{k % 10}" for k in range(n_titles)]
    titles = list(dict.fromkeys(titles))
    # Cumulative weights once: rng.choices would re-add them on every call.
    popularity = list(itertools.accumulate(1.0 / (k + 1) ** 0.9 for k in range(len(titles))))

    def iso(day: int) -> str:
        return (start + timedelta(days=day)).isoformat()

    copy_docs: list[dict[str, Any]] = []
    holders: dict[str, set[str]] = {}
    weights = list(itertools.accumulate(size[x] for x in lib_ids))
    k = 0
    while len(copy_docs) < n_copies:
        title = (
            titles[k % len(titles)]
            if k < len(titles)
            else rng.choices(titles, cum_weights=popularity)[0]
        )
        k += 1
        lib = rng.choices(lib_ids, cum_weights=weights)[0]
        holders.setdefault(title, set()).add(lib)
        doc: dict[str, Any] = {"id": f"c{len(copy_docs) + 1:06d}", "library": lib, "title": title}
        roll = rng.random()
        if roll < 0.15:
            doc["available_from"] = iso(rng.randint(5, days // 2 + 5))
        elif roll < 0.18:
            doc["lendable"] = False
        copy_docs.append(doc)

    request_docs = []
    for q in range(requests):
        title = rng.choices(titles, cum_weights=popularity)[0]
        outside = [x for x in lib_ids if x not in holders.get(title, set())]
        lib = rng.choice(outside or lib_ids)
        wanted = [title]
        if rng.random() < 0.2:
            wanted.append(rng.choice(titles))  # another edition or a substitute
        opened = rng.randint(0, int(days * 0.75))
        doc = {
            "id": f"q{q + 1:05d}",
            "library": lib,
            "titles": list(dict.fromkeys(wanted)),
            "requested_on": iso(opened),
            "needed_by": iso(opened + rng.choice((5, 7, 10, 14, 21))),
            "loan_days": rng.choice((14, 21, 28, 28, 28, 42)),
            "weight": rng.choice((1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0)),
        }
        request_docs.append(doc)

    shipping = []
    for i, a in enumerate(lib_ids):
        for b in lib_ids[i + 1 :]:
            d, c = courier(city[a], city[b])
            shipping.append({"from": a, "to": b, "days": d, "cost": c})

    lib_docs = []
    limited = set(rng.sample(lib_ids, min(capped, len(lib_ids))))
    for lib_id, inst, lib_name, lib_city in libs:
        doc = {"id": lib_id, "institution": inst, "name": lib_name, "city": lib_city}
        if lib_id in limited:
            doc["max_outgoing"] = max(3, requests // (len(lib_ids) * 3))
        lib_docs.append(doc)

    return {
        "kind": "loans",
        "name": name or f"loans-r{requests}-s{seed}",
        "horizon": {"start": start.isoformat(), "end": iso(days - 1)},
        "libraries": lib_docs,
        "copies": copy_docs,
        "requests": request_docs,
        "shipping": shipping,
        "penalties": {"unfilled": 100.0, "late_per_day": 5.0},
        "policies": {"keep_one_on_shelf": False, "max_imbalance": None},
    }


def western_consortium() -> dict[str, Any]:
    """The example under ``instances/loans/``: 25 libraries, ~3,000 copies, 800 requests."""
    doc = loans_document(800, seed=2026, name="western-consortium-2026-12")
    doc["description"] = (
        "Twenty-five university libraries in the western provinces share their collections "
        "over December 2026 and January 2027; courier days and costs follow the distance "
        "between cities; some copies are on loan until mid-horizon and four libraries cap "
        "the loans they ship."
    )
    doc["options"] = {"time_limit_s": 25}
    return {k: doc[k] for k in ("kind", "name", "description", "options", *doc) if k in doc}


# Runs a week per direction in the courier examples, on days three apart.
RUNS_PER_WEEK = 2
# A run costs as much as this many single parcels on its route: a van's day.
RUN_COST_IN_PARCELS = 3
COURIER_CAPACITY = 40
HANDLING_PER_LEG = 2.0


def with_couriers(doc: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """``doc`` with two courier runs a week each way on every shipping route, a run costing
    three parcels, handling per item and leg, every library closed on New Year's Day and some
    on Sundays (contract 7.7)."""
    rng = random.Random(seed)
    out = dict(doc)
    couriers = []
    for s in doc["shipping"]:
        for a, b in ((s["from"], s["to"]), (s["to"], s["from"])):
            first = rng.randint(1, 3)
            couriers.append(
                {
                    "id": f"{a}>{b}",
                    "from": a,
                    "to": b,
                    "weekdays": [first, first + 3],
                    "days": s["days"],
                    "capacity": COURIER_CAPACITY,
                    "cost_per_run": round(RUN_COST_IN_PARCELS * s["cost"], 1),
                }
            )
    out["libraries"] = [
        {
            **x,
            "closed_dates": ["2027-01-01"],
            **({"closed_weekdays": [7]} if rng.random() < 0.5 else {}),
        }
        for x in doc["libraries"]
    ]
    out["couriers"] = couriers
    out["handling_cost"] = HANDLING_PER_LEG
    return out


def western_consortium_couriers() -> dict[str, Any]:
    """The western consortium with two courier runs a week each way between every two
    libraries (``instances/loans/western-consortium-couriers.json``)."""
    doc = with_couriers(western_consortium(), seed=2026)
    doc["name"] = "western-consortium-2026-12-couriers"
    doc["description"] = (
        "The western consortium of December 2026 and January 2027 with couriers: two runs a "
        "week each way between every two libraries, a run costing three parcels on its route, "
        "handling per item and leg; every library closed on New Year's Day, some on Sundays."
    )
    return doc


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "instances/loans")
    target.mkdir(parents=True, exist_ok=True)
    for stem, doc in (
        ("western-consortium", western_consortium()),
        ("western-consortium-couriers", western_consortium_couriers()),
    ):
        path = target / f"{stem}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {path}")
