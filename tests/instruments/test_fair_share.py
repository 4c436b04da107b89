"""Fair share (contract 6.8): KPIs computed by hand, the penalty in the objective against
brute force, and a zero penalty that leaves plans as they were."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status

from .helpers import at, base_document, request, solve, step

TARGETS = [
    {"institution": "scu", "instrument_type": "em", "target": 0.3},
    {"institution": "cqu", "instrument_type": "em", "target": 0.5},
    {"institution": "xju", "instrument_type": "nmr", "target": 0.2},
]
HISTORY = [
    {"institution": "scu", "instrument_type": "em", "weeks_ago": 2, "minutes": 600},
    {"institution": "cqu", "instrument_type": "em", "weeks_ago": 4, "minutes": 400},
    {"institution": "cqu", "instrument_type": "em", "weeks_ago": 8, "minutes": 400},
]


def shared_week(**fields) -> dict:
    return base_document(
        requests=[
            request("r1", step(["em-1"], 300), institution="scu"),
            request("r2", step(["em-2"], 120), institution="cqu"),
            request("r3", step(["nmr-1"], 90), institution="cqu"),
        ],
        **fields,
    )


def test_decayed_shares_and_shortfalls_match_the_contract():
    result = solve(
        shared_week(fair_share=TARGETS, usage_history=HISTORY, history_half_life_weeks=4)
    )
    assert result.verification.valid
    em = result.kpis["fair_share"]["em"]
    # History rounded to whole minutes: scu 600 * 0.5^(2/4) = 424.26 -> 424;
    # cqu 400 * 0.5 + 400 * 0.25 = 300. Decayed: scu 300 + 424, cqu 120 + 300.
    scu, cqu = 724, 420
    total = scu + cqu
    assert em["scu"]["booked_minutes"] == 300
    assert em["scu"]["decayed_minutes"] == scu
    assert em["cqu"]["decayed_minutes"] == cqu
    assert em["scu"]["share"] == round(scu / total, 4)
    assert em["scu"]["shortfall_minutes"] == 0.0  # above its 0.3
    assert em["cqu"]["shortfall_minutes"] == 0.5 * total - cqu  # 152
    nmr = result.kpis["fair_share"]["nmr"]
    # xju has a target and nothing booked: listed, with the whole target short.
    assert nmr["xju"] == {
        "booked_minutes": 0,
        "decayed_minutes": 0,
        "share": 0.0,
        "target": 0.2,
        "shortfall_minutes": 18.0,
    }
    assert nmr["cqu"]["target"] is None and nmr["cqu"]["shortfall_minutes"] is None


def test_fair_share_is_reported_not_optimised():
    plain = solve(shared_week())
    shared = solve(shared_week(fair_share=TARGETS, usage_history=HISTORY))
    assert shared.objective == plain.objective
    assert shared.solution == plain.solution
    assert "fair_share" not in plain.kpis


# ---------------------------------------------------------------- the penalty


def contest(penalty: float, target: float = 0.5) -> dict:
    """scu (weight 2) and cqu (weight 1.5) want em-1 at the same time; cqu has a target on
    em; scu may also take a small session on em-2 (weight 0.5)."""
    return base_document(
        fair_share=[{"institution": "cqu", "instrument_type": "em", "target": target}],
        fair_share_penalty=penalty,
        requests=[
            request("scu-big", step(["em-1"], 100), weight=2.0, release=at(0), deadline=at(100)),
            request(
                "cqu-big",
                step(["em-1"], 100),
                institution="cqu",
                weight=1.5,
                release=at(0),
                deadline=at(100),
            ),
            request("scu-small", step(["em-2"], 100), weight=0.5, release=at(0), deadline=at(100)),
        ],
    )


@pytest.mark.parametrize("solver", ["auto", "cp-sat"])
def test_the_penalty_can_turn_the_choice(solver):
    plain = solve(contest(0.0), solver=solver)
    assert plain.objective == 2.5 and plain.solution["unscheduled"] == ["cqu-big"]
    # With 0.02 per minute: scu-big and scu-small leave cqu 100 short (of 200 total): 2.5 - 2;
    # cqu-big alone: no shortfall, 1.5; cqu-big and scu-small: 1.5 + 0.5 - 0 (100 of 200).
    priced = solve(contest(0.02), solver=solver)
    assert priced.verification.valid, priced.verification.violations
    assert priced.status == Status.OPTIMAL
    assert priced.objective == pytest.approx(2.0)
    assert priced.solution["unscheduled"] == ["scu-big"]
    assert priced.kpis["fair_share"]["em"]["cqu"]["shortfall_minutes"] == 0.0


def test_a_request_left_out_for_its_fair_share_cost_says_so():
    # With a 0.6 target, scu-small beside cqu-big leaves cqu 20 minutes short (120 of 200):
    # 0.03 * 20 = 0.6, more than its weight 0.5. The best plan is cqu-big alone, 1.5.
    result = solve(contest(0.03, target=0.6))
    assert result.status == Status.OPTIMAL and result.objective == pytest.approx(1.5)
    assert sorted(result.solution["unscheduled"]) == ["scu-big", "scu-small"]
    (why,) = [e for e in result.explanations if e.subject == "scu-small"]
    assert why.code == "fair_share_cost"
    assert "would add 0.60 of fair-share penalty" in why.detail


def random_contest(rng: random.Random, n: int) -> tuple[dict, list[tuple]]:
    jobs, requests = [], []
    for k in range(n):
        instrument = rng.choice(["em-1", "em-2", "nmr-1"])
        start, minutes = rng.randrange(0, 600), rng.randrange(30, 200)
        who = rng.choice(["scu", "cqu", "xju"])
        weight = rng.choice([0.5, 1.0, 1.5, 2.0])
        jobs.append((who, instrument, start, start + minutes, weight))
        requests.append(
            request(
                f"r{k}",
                step([instrument], minutes),
                institution=who,
                weight=weight,
                release=at(start),
                deadline=at(start + minutes),
            )
        )
    doc = base_document(
        requests=requests,
        fair_share=[
            {"institution": "cqu", "instrument_type": "em", "target": rng.choice([0.25, 0.4])},
            {"institution": "xju", "instrument_type": "em", "target": 0.3},
            {"institution": "scu", "instrument_type": "nmr", "target": rng.choice([0.35, 0.5])},
        ],
        usage_history=[
            {"institution": "scu", "instrument_type": "em", "weeks_ago": 1, "minutes": 333},
            {"institution": "xju", "instrument_type": "em", "weeks_ago": 3, "minutes": 150},
            {"institution": "cqu", "instrument_type": "nmr", "weeks_ago": 2, "minutes": 77},
        ],
        history_half_life_weeks=2.5,
        fair_share_penalty=rng.choice([0.005, 0.01, 0.02]),
    )
    return doc, jobs


def penalised_brute_force(doc: dict, jobs: list[tuple]) -> float:
    """Every subset without overlap, its weight less the penalty, all in exact fractions."""
    kinds = {"em-1": "em", "em-2": "em", "nmr-1": "nmr"}
    half_life = Fraction(str(doc["history_half_life_weeks"]))
    history: dict[tuple[str, str], int] = {}
    for u in doc["usage_history"]:
        decayed = u["minutes"] * 0.5 ** (u["weeks_ago"] / float(half_life))
        history[(u["institution"], u["instrument_type"])] = int(decayed + 0.5)
    penalty = Fraction(str(doc["fair_share_penalty"]))
    best = None
    for size in range(len(jobs) + 1):
        for chosen in itertools.combinations(jobs, size):
            if any(
                a[1] == b[1] and a[2] < b[3] and b[2] < a[3]
                for a, b in itertools.combinations(chosen, 2)
            ):
                continue
            minutes: dict[tuple[str, str], int] = dict(history)
            for who, instrument, start, end, _ in chosen:
                key = (who, kinds[instrument])
                minutes[key] = minutes.get(key, 0) + end - start
            short = Fraction(0)
            for f in doc["fair_share"]:
                total = sum(m for (_, t), m in minutes.items() if t == f["instrument_type"])
                mine = minutes.get((f["institution"], f["instrument_type"]), 0)
                short += max(Fraction(0), Fraction(str(f["target"])) * total - mine)
            value = sum(Fraction(str(j[4])) for j in chosen) - penalty * short
            best = value if best is None or value > best else best
    assert best is not None
    return float(best)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("solver", ["auto", "cp-sat"])
def test_the_penalised_objective_matches_brute_force(seed, solver):
    doc, jobs = random_contest(random.Random(2600 + seed), 10)
    expected = penalised_brute_force(doc, jobs)
    result = solve(doc, solver=solver)
    assert result.verification.valid, result.verification.violations
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound >= result.objective - 1e-9
    greedy_plan = solve(doc, solver="greedy")
    assert greedy_plan.verification.valid
    assert greedy_plan.objective <= expected + 1e-6


def test_the_oracle_instances_are_turned_by_the_penalty():
    """On most seeds the best plan with the penalty is not the best plan by weight."""
    turned = 0
    for seed in range(4):
        doc, _ = random_contest(random.Random(2600 + seed), 10)
        by_weight = solve({**doc, "fair_share_penalty": 0})
        priced = solve(doc)
        turned += priced.solution["bookings"] != by_weight.solution["bookings"]
    assert turned >= 2


@pytest.mark.parametrize(
    ("fields", "code", "path"),
    [
        (
            {"fair_share": [{"institution": "scu", "instrument_type": "em", "target": 0.125}]},
            "fair_share_precision",
            "fair_share[0].target",
        ),
        (
            {"objective": "min_makespan", "fair_share_penalty": 0.5},
            "fair_share_penalty_objective",
            "fair_share_penalty",
        ),
    ],
)
def test_bad_fair_share_fields_are_named(fields, code, path):
    issues = parse_document(base_document(**fields)).issues
    assert [(i.code, i.path) for i in issues] == [(code, path)]


def test_the_large_week_path_optimises_the_penalty_too(monkeypatch):
    """Neighbourhoods count each plan's shortfall, with the bookings outside them as
    constants: on a small week they reach the brute-force optimum. The bound (on weight
    alone) stays above it, so the plan is reported feasible, not optimal."""
    from optimizer.instruments import model

    doc, jobs = random_contest(random.Random(2601), 10)
    expected = penalised_brute_force(doc, jobs)
    monkeypatch.setattr(model, "LARGE_INTERVALS", -1)
    result = solve(doc, time_limit_s=2)
    assert result.verification.valid, result.verification.violations
    assert result.kpis["neighbourhoods"] > 0
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound is not None and result.bound > expected
    assert result.status == Status.FEASIBLE


def test_a_re_plan_carries_the_penalty_and_the_change_cost_together():
    doc, _ = random_contest(random.Random(2602), 10)
    first = solve(doc, solver="cp-sat")
    assert first.status == Status.OPTIMAL
    again = solve({**doc, "previous": first.solution}, solver="cp-sat")
    assert again.verification.valid, again.verification.violations
    assert again.status == Status.OPTIMAL
    assert again.kpis["changes_moved"] == again.kpis["changes_dropped"] == 0
    assert again.objective == pytest.approx(first.objective, abs=1e-6)
    # A booking of the old plan made impossible: one change at most, priced.
    moved = dict(doc, requests=[dict(r) for r in doc["requests"]])
    booked = first.solution["bookings"][0]["request"]
    moved["requests"] = [r for r in moved["requests"] if r["id"] != booked]
    changed = solve({**moved, "previous": first.solution}, solver="cp-sat")
    assert changed.verification.valid, changed.verification.violations
    assert changed.bound >= changed.objective - 1e-9


def test_the_warm_start_hint_sets_every_shortfall_at_its_value():
    """Fixed to the hint, the model accepts the greedy plan, and its objective there is the
    verifier's penalised objective of that plan: the hint is complete and the model exact."""
    from ortools.sat.python import cp_model

    from optimizer.core.documents import parse_document
    from optimizer.instruments.formulation import ScheduleModel
    from optimizer.instruments.greedy import greedy
    from optimizer.instruments.timeline import build_timeline, to_payload
    from optimizer.instruments.verify import verify
    from optimizer.instruments.warmstart import hint

    doc, _ = random_contest(random.Random(2603), 10)
    instance = parse_document(doc).instance
    tl = build_timeline(instance)
    plan = greedy(tl)
    sm = ScheduleModel(tl)
    sm.set_objective()
    assert sm.shortfalls
    hint(sm, plan.bookings, plan.served)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    assert solver.solve(sm.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    expected = verify(instance, to_payload(tl, plan.bookings)).objective
    assert solver.objective_value / sm.scale == pytest.approx(expected, abs=1e-9)
