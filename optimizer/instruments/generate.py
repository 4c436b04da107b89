"""Seeded instruments weeks: shared large instruments across Chengdu and Chongqing campuses.

Five campuses (three in Chengdu, two in Chongqing, about three hours apart by rail and car),
six instrument types with their own booking habits (cryo-EM sessions of half a day to a
day with an operator, overnight NMR runs, staffed FIB-SEM and HR-TEM sessions in working
hours, short mass-spectrometry runs, long HPC jobs), operators on day and late shifts,
maintenance blocks, institution quotas on cryo-EM, a few pinned bookings, and multi-step
workflows (FIB lamella then cryo-ET then HPC reconstruction; LC-MS then HPC analysis).
Demand is set above capacity so that the choice of who is served matters.

Used by ``instances/instruments/`` (the example week), by the tests and by
``benchmarks/instruments.py``. Run ``python -m optimizer.instruments.generate`` from the
repository root to rewrite the example week.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

START = datetime.fromisoformat("2026-12-07T08:00:00+08:00")  # a Monday
DAY = 24 * 60

SITES = [
    ("scu-wangjiang", "scu", "Chengdu"),
    ("uestc-qingshuihe", "uestc", "Chengdu"),
    ("swjtu-xipu", "swjtu", "Chengdu"),
    ("cqu-huxi", "cqu", "Chongqing"),
    ("swu-beibei", "swu", "Chongqing"),
]
INSTITUTIONS = ["scu", "uestc", "swjtu", "cqu", "swu", "cmu", "cdut", "sicau", "cqupt", "swufe"]

# type: (sites in turn, changeover, daytime only, operator required, durations in minutes)
TYPES: dict[str, tuple[list[str], int, bool, bool, list[int]]] = {
    "cryo-em": (["scu-wangjiang", "cqu-huxi"], 60, False, True, [240, 360, 480, 720]),
    "nmr-600": (["uestc-qingshuihe", "swu-beibei"], 15, False, False, [60, 120, 240, 720]),
    "fib-sem": (["swjtu-xipu", "cqu-huxi"], 30, True, True, [120, 180, 240, 360]),
    "hr-tem": (["scu-wangjiang", "swu-beibei"], 20, True, True, [60, 120, 180, 240]),
    "mass-spec": (["uestc-qingshuihe", "swu-beibei"], 20, False, False, [30, 60, 90, 180]),
    "hpc": (["uestc-qingshuihe"], 0, False, False, [240, 480, 720, 1440]),
}
# Demand over capacity per type in a typical week: cryo-EM is the most oversubscribed.
PRESSURE = {
    "cryo-em": 1.6,
    "nmr-600": 1.25,
    "fib-sem": 1.35,
    "hr-tem": 1.15,
    "mass-spec": 0.9,
    "hpc": 1.25,
}
# Workflows: (weight of drawing it, the instrument types of its steps in order)
WORKFLOWS: list[tuple[int, list[str]]] = [
    (22, ["nmr-600"]),
    (14, ["mass-spec"]),
    (12, ["hr-tem"]),
    (10, ["fib-sem"]),
    (10, ["cryo-em"]),
    (8, ["hpc"]),
    (8, ["cryo-em", "hpc"]),
    (6, ["fib-sem", "cryo-em", "hpc"]),
    (6, ["fib-sem", "hr-tem"]),
    (4, ["mass-spec", "hpc"]),
]
NAMES = {
    "cryo-em": "Titan Krios cryo-EM",
    "nmr-600": "600 MHz NMR",
    "fib-sem": "FIB-SEM",
    "hr-tem": "HR-TEM",
    "mass-spec": "Orbitrap mass spectrometer",
    "hpc": "GPU partition",
}


# Contract 6.7 clusters: cores per job slot, and the cores a processing job asks for.
CORES_PER_JOB_SLOT = 8
JOB_CORES = [4, 8, 8, 16]


def at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).isoformat()


def travel_minutes(a: str, b: str) -> int:
    city = {s: c for s, _, c in SITES}
    if city[a] == city[b]:
        return 45
    return 180


def week_document(
    n_requests: int = 150,
    n_instruments: int = 12,
    n_operators: int = 8,
    seed: int = 0,
    days: int = 7,
    load: float = 1.0,
    attended_minutes: int | None = None,
    hpc_capacity: int | None = None,
) -> dict[str, Any]:
    """A week of requests; demand per type is ``load`` times its usual pressure on capacity.

    ``attended_minutes``: every cryo-EM session is staffed for its first that many minutes
    only and runs on unattended (autoloader collections through the night), instead of the
    short ones staffed throughout and the long ones not at all. ``hpc_capacity``: the HPC
    partitions are clusters running that many jobs at once on ``CORES_PER_JOB_SLOT`` cores
    per job slot, each job asking for some cores, and a processing step after another step
    does not move the sample (contract 6.7). Without either, the week is as it always was.
    """
    rng = random.Random(seed)
    horizon = days * DAY
    types = list(TYPES)
    # Instruments: round-robin over types, then over each type's sites.
    instruments: list[dict[str, Any]] = []
    per_type: dict[str, list[str]] = {t: [] for t in types}
    for k in range(n_instruments):
        t = types[k % len(types)]
        sites, changeover, daytime, _, _ = TYPES[t]
        n = len(per_type[t])
        iid = f"{t}-{n + 1}"
        per_type[t].append(iid)
        inst: dict[str, Any] = {
            "id": iid,
            "name": f"{NAMES[t]} #{n + 1}",
            "type": t,
            "site": sites[n % len(sites)],
            "changeover_minutes": changeover,
        }
        if daytime:  # staffed instruments open 08:00-22:00 on weekdays, 09:00-17:00 on Saturday
            inst["availability"] = [
                {"start": at(d * DAY), "end": at(d * DAY + (14 if d % 7 < 5 else 8) * 60)}
                for d in range(days)
                if d % 7 != 6
            ]
        if t == "hpc" and hpc_capacity is not None:
            inst["capacity"] = hpc_capacity
            inst["cores"] = hpc_capacity * CORES_PER_JOB_SLOT
        if rng.random() < 0.6:  # a maintenance block of 4-8 hours on some weekday morning
            d = rng.randrange(min(5, days))
            length = rng.choice([240, 360, 480])
            inst["maintenance"] = [{"start": at(d * DAY), "end": at(d * DAY + length)}]
        instruments.append(inst)
    staffed = [i["id"] for i in instruments if TYPES[i["type"]][3]]
    operators = []
    for k in range(n_operators):
        shift = (0, 9 * 60) if k % 2 == 0 else (4 * 60, 13 * 60)  # 08-17 or 12-21
        pool = staffed if staffed else [i["id"] for i in instruments]
        skills = sorted(rng.sample(pool, min(len(pool), rng.choice([2, 3, 3, 4]))))
        skills = sorted(set(skills) | {pool[k % len(pool)]})
        windows = [
            {"start": at(d * DAY + shift[0]), "end": at(d * DAY + shift[1])}
            for d in range(days)
            if d % 7 < 5 or (d % 7 == 5 and k % 3 == 0)
        ]
        operators.append({"id": f"op-{k + 1:02d}", "instruments": skills, "availability": windows})
    # Capacity per type, to size demand.
    capacity: dict[str, float] = {t: 0 for t in types}
    for inst in instruments:
        capacity[inst["type"]] += horizon * (0.55 if TYPES[inst["type"]][2] else 0.9)
    requests: list[dict[str, Any]] = []
    demand = {t: 0 for t in types}
    draws = [w for w, _ in WORKFLOWS]
    for r in range(n_requests):
        for _ in range(20):
            _, flow = rng.choices(WORKFLOWS, weights=draws)[0]
            if all(per_type[t] for t in flow):
                break
        steps = []
        for t in flow:
            duration = rng.choice(TYPES[t][4])
            demand[t] += duration
            step: dict[str, Any] = {"duration_minutes": duration}
            if len(per_type[t]) > 1 and rng.random() < 0.25:  # some ask for one instrument
                step["instruments"] = [rng.choice(per_type[t])]
            else:
                step["instrument_type"] = t
            step["name"] = f"{NAMES[t]} session"
            steps.append(step)
        req: dict[str, Any] = {
            "id": f"r{r + 1:04d}",
            "institution": rng.choice(INSTITUTIONS),
            "weight": rng.choice([1, 1, 1, 2, 2, 3, 5]),
            "steps": steps,
        }
        if rng.random() < 0.6:
            release_day = rng.randrange(max(1, days - 2))
            req["release"] = at(release_day * DAY)
            if rng.random() < 0.5:
                req["deadline"] = at(min(horizon, (release_day + rng.choice([2, 3, 4])) * DAY))
        if rng.random() < 0.3:
            req["due"] = at(rng.randrange(1, days) * DAY + 9 * 60)
        requests.append(req)
    # Scale durations so demand meets each type's pressure on capacity.
    for t in types:
        if demand[t] and capacity[t]:
            factor = min(2.5, max(0.4, load * PRESSURE[t] * capacity[t] / demand[t]))
            longest = 720 if TYPES[t][2] else 1440
            for req in requests:
                for step in req["steps"]:
                    if step["name"].startswith(NAMES[t]):
                        scaled = round(step["duration_minutes"] * factor / 30) * 30
                        step["duration_minutes"] = max(30, min(scaled, longest))
    # Staffed sessions need an operator throughout; longer ones (overnight autoloader runs)
    # go unattended, as operators work nine-hour shifts.
    for req in requests:
        for k, step in enumerate(req["steps"]):
            t = next(x for x in types if step["name"].startswith(NAMES[x]))
            if t == "cryo-em" and attended_minutes is not None:
                step["operator_required"] = True
                step["attended_minutes"] = min(attended_minutes, step["duration_minutes"])
            elif TYPES[t][3] and step["duration_minutes"] <= 480:
                step["operator_required"] = True
            if t == "hpc" and hpc_capacity is not None:
                step["cores"] = rng.choice(JOB_CORES)
                if k > 0:  # the data goes to the cluster, not the sample
                    step["moves_sample"] = False
    _pin_some(rng, requests, instruments, per_type, horizon)
    n_mandatory = max(1, n_requests // 40)
    for req in rng.sample([q for q in requests if "pinned" not in q], n_mandatory):
        req["mandatory"] = True
        req.pop("deadline", None)
        req.pop("release", None)
    quotas: list[dict[str, Any]] = [
        {
            "institution": inst,
            "instrument_type": "cryo-em",
            "max_minutes": int(capacity["cryo-em"] * 0.2),
        }
        for inst in INSTITUTIONS[:4]
        if per_type["cryo-em"]
    ]
    site_docs: list[dict[str, Any]] = [{"id": s, "institution": i, "city": c} for s, i, c in SITES]
    travel = [
        {"from": a[0], "to": b[0], "minutes": travel_minutes(a[0], b[0])}
        for x, a in enumerate(SITES)
        for b in SITES[x + 1 :]
    ]
    return {
        "kind": "instruments",
        "name": f"week-n{n_requests}-i{n_instruments}-o{n_operators}-s{seed}",
        "description": (
            "A week of shared large-instrument requests across Chengdu and Chongqing campuses "
            f"(seeded generator, seed {seed})."
        ),
        "horizon": {"start": at(0), "end": at(horizon)},
        "objective": "max_weighted_served",
        "sites": site_docs,
        "travel": travel,
        "instruments": instruments,
        "operators": operators,
        "requests": requests,
        "quotas": quotas,
    }


def _pin_some(
    rng: random.Random,
    requests: list[dict[str, Any]],
    instruments: list[dict[str, Any]],
    per_type: dict[str, list[str]],
    horizon: int,
) -> None:
    """Pin the first step of a few single-step, unstaffed requests on round-the-clock instruments."""
    by_id = {i["id"]: i for i in instruments}
    taken: dict[str, list[tuple[int, int]]] = {}
    candidates = [
        q for q in requests if len(q["steps"]) == 1 and not q["steps"][0].get("operator_required")
    ]
    for req in rng.sample(candidates, min(len(candidates), max(2, len(requests) // 30))):
        step = req["steps"][0]
        d = step["duration_minutes"]
        pool = step.get("instruments") or per_type[step["instrument_type"]]
        pool = [x for x in pool if "availability" not in by_id[x]]  # round-the-clock ones
        if not pool:
            continue
        iid = rng.choice(pool)
        busy = list(taken.get(iid, []))
        busy += [
            (
                int((datetime.fromisoformat(w["start"]) - START).total_seconds() // 60),
                int((datetime.fromisoformat(w["end"]) - START).total_seconds() // 60),
            )
            for w in by_id[iid].get("maintenance", [])
        ]
        for _ in range(50):
            s = rng.randrange(0, (horizon - d) // 60) * 60
            gap = by_id[iid]["changeover_minutes"]
            if all(s + d + gap <= a or b + gap <= s for a, b in busy):
                req["pinned"] = [{"step": 0, "instrument": iid, "start": at(s)}]
                req.pop("release", None)
                req.pop("deadline", None)
                taken.setdefault(iid, []).append((s, s + d))
                break


def example_week() -> dict[str, Any]:
    """The example under ``instances/instruments/``: 150 requests, 12 instruments, 8 operators."""
    doc = week_document(150, 12, 8, seed=2026)
    doc["name"] = "chengdu-chongqing-week"
    doc["options"] = {"time_limit_s": 20}
    return doc


def facility_week() -> dict[str, Any]:
    """The example week with contract 6.7's resources: cryo-EM collections attended for their
    first hour and running on overnight, and GPU clusters of eight job slots taking
    processing steps that do not move the sample."""
    doc = week_document(150, 12, 8, seed=2026, attended_minutes=60, hpc_capacity=8)
    doc["name"] = "chengdu-chongqing-facility-week"
    doc["description"] = (
        "The Chengdu-Chongqing week with cryo-EM collections attended for their first hour and "
        "running unattended overnight, and GPU clusters running eight jobs at once (seeded "
        "generator, seed 2026)."
    )
    doc["options"] = {"time_limit_s": 20}
    return doc


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "instances/instruments")
    target.mkdir(parents=True, exist_ok=True)
    for name, doc in (
        ("chengdu-chongqing-week", example_week()),
        ("chengdu-chongqing-facility-week", facility_week()),
    ):
        path = target / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path}")
