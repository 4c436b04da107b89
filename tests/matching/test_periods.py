"""Multi-year plans (contract 5.4.4): against brute force over every combination of
per-period selections on tiny random instances, for both rules; the verifier broken one rule
at a time; invalid combinations; the shipped example; plan views of a periods solution."""

from __future__ import annotations

import copy
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.core.documents import parse_document, solve_document
from optimizer.core.envelope import Status
from optimizer.matching import KIND, MatchingInstance
from optimizer.matching.verify import verify

from .helpers import (
    REGIONS,
    assert_verified,
    contract_candidates,
    feasible_selections,
    institutions_of,
    matching,
    random_capacitated_doc,
    solve_doc,
)
from .period_cases import (
    KEEP_OBJECTIVE,
    KEEP_PLAN,
    MUTATIONS,
    NEW_PARTNER_OBJECTIVE,
    NEW_PARTNER_PLAN,
    periods_doc,
)

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "matching"

# ------------------------------------------------------------------ brute force


def _period_doc(doc: dict[str, Any], t: int) -> dict[str, Any]:
    """Period t (from 0) as a one-period document: its capacities, min_partners capped."""
    periods = doc["periods"]
    out = copy.deepcopy({k: v for k, v in doc.items() if k != "periods"})
    out["institutions"] = []
    for x in institutions_of(doc):
        capacity = periods.get("capacity", {}).get(x["id"], [x["capacity"]] * periods["count"])[t]
        out["institutions"].append(
            {**x, "capacity": capacity, "min_partners": min(x["min_partners"], capacity)}
        )
    return out


def _meets_minimums(doc: dict[str, Any], chosen: list[frozenset[str]]) -> bool:
    insts = institutions_of(doc)
    for rule in doc.get("fairness", {}).get("minimums", []):
        group = {x["id"] for x in insts if x.get(rule.get("by", "region")) == rule["group"]}
        matched = group & set().union(*chosen) if chosen else set()
        touching = sum(1 for pair in chosen if pair & group)
        if len(matched) < rule.get("matched", 0) or touching < rule.get("pairs", 0):
            return False
    return True


def _runs_ok(history: list[set[frozenset[str]]], keep_at_least: int, final: bool) -> bool:
    """Whether every run of consecutive periods of a pair that has ended lasted long
    enough (a run still going at the last period may be short)."""
    for pair in set().union(*history):
        run = 0
        for t, chosen in enumerate(history):
            if pair in chosen:
                run += 1
                if t == len(history) - 1 and not final:
                    run = keep_at_least  # still going: judged later
            elif run:
                if run < keep_at_least:
                    return False
                run = 0
    return True


def brute_force_periods(doc: dict[str, Any]) -> float | None:
    """The best total over every combination of feasible per-period selections that keeps
    the rule across periods, by branch and bound; None when no combination exists."""
    periods = doc["periods"]
    count, rule, least = periods["count"], periods["rule"], periods.get("keep_at_least", 2)
    options = []
    for t in range(count):
        seen = _period_doc(doc, t)
        found = [
            (set(chosen), total)
            for chosen, total in feasible_selections(seen)
            if _meets_minimums(doc, chosen)
        ]
        if not found:
            return None
        options.append(sorted(found, key=lambda o: -o[1]))
    best_rest = [0.0] * (count + 1)
    for t in range(count - 1, -1, -1):
        best_rest[t] = best_rest[t + 1] + options[t][0][1]
    best: list[float | None] = [None]

    def search(t: int, history: list[set[frozenset[str]]], value: float) -> None:
        if best[0] is not None and value + best_rest[t] <= best[0] + 1e-9:
            return
        if t == count:
            best[0] = value
            return
        for chosen, total in options[t]:
            if rule == "new_partner" and any(chosen & before for before in history):
                continue
            extended = [*history, chosen]
            if rule == "keep" and not _runs_ok(extended, least, final=t == count - 1):
                continue
            search(t + 1, extended, value + total)

    search(0, [], 0.0)
    return best[0]


def random_periods_doc(rng: random.Random, rule: str) -> dict[str, Any]:
    n = rng.randint(4, 6)
    doc = random_capacitated_doc(rng, n, max_edges=7, max_capacity=2)
    count = rng.randint(2, 3) if rule == "new_partner" else 3
    if rule == "new_partner":
        doc["rules"]["required"] = []
    capacity = {
        x["id"]: [rng.randint(0, 2) for _ in range(count)]
        for x in doc["institutions"]
        if rng.random() < 0.6
    }
    doc["periods"] = {"count": count, "rule": rule, "capacity": capacity}
    if rule == "keep":
        doc["periods"]["keep_at_least"] = rng.choice([1, 2, 2, 3])
    for x in doc["institutions"]:
        x["region"] = rng.choice(REGIONS)
    if rng.random() < 0.3:
        doc["fairness"] = {"minimums": [{"group": rng.choice(REGIONS), "matched": 1}]}
        if not any(
            x["region"] == doc["fairness"]["minimums"][0]["group"] for x in doc["institutions"]
        ):
            doc["institutions"][0]["region"] = doc["fairness"]["minimums"][0]["group"]
    return doc


@pytest.mark.parametrize("rule", ["new_partner", "keep"])
@pytest.mark.parametrize("solver", ["highs", "cp-sat"])
def test_periods_match_brute_force(rule: str, solver: str) -> None:
    rng = random.Random(f"periods-{rule}")
    solved = binding = 0
    for _ in range(40):
        doc = random_periods_doc(rng, rule)
        best = brute_force_periods(doc)
        solution = solve_doc(doc, solver)
        if best is None:
            assert solution.status == Status.INFEASIBLE, doc
            continue
        assert_verified(solution)
        assert solution.status == Status.OPTIMAL
        assert solution.objective == pytest.approx(best, abs=1e-6), doc
        assert solution.verification.objective == pytest.approx(best, abs=1e-6)
        # The price of the rule across periods and of the minimums, each by enumeration.
        free = {**doc, "periods": {**doc["periods"], "rule": "keep", "keep_at_least": 1}}
        lifted = {"rule": free}
        if "fairness" in doc:
            lifted["fairness"] = {k: v for k, v in doc.items() if k != "fairness"}
            lifted["all"] = {k: v for k, v in free.items() if k != "fairness"}
        price = solution.kpis["price_of_rules"]
        assert set(price) == set(lifted)
        for label, variant in lifted.items():
            without = brute_force_periods(variant)
            assert without is not None
            assert price[label]["total_without"] == pytest.approx(without, abs=1e-6), label
            assert price[label]["price"] == pytest.approx(without - best, abs=1e-6), label
        solved += 1
        free = sum(
            max(total for _, total in feasible_selections(_period_doc(doc, t)))
            for t in range(doc["periods"]["count"])
        )
        binding += best < free - 1e-9
    # The oracle compares plans, not empty answers, and the rule changes some of them.
    assert solved >= 10 and binding >= 3, (solved, binding)


def test_one_period_is_the_plan_without_periods() -> None:
    rng = random.Random("one-period")
    for _ in range(10):
        doc = random_capacitated_doc(rng, 6, max_edges=9)
        plain = solve_doc(doc)
        once = solve_doc({**doc, "periods": {"count": 1}})
        assert once.status == plain.status
        if plain.status == Status.OPTIMAL:
            assert_verified(once)
            assert once.objective == pytest.approx(plain.objective, abs=1e-9)


# ------------------------------------------------------------------ the verifier


@pytest.mark.parametrize(
    ("rule", "plan", "objective"),
    [("new_partner", NEW_PARTNER_PLAN, NEW_PARTNER_OBJECTIVE), ("keep", KEEP_PLAN, KEEP_OBJECTIVE)],
)
def test_hand_written_plans_verify(rule: str, plan: dict[str, Any], objective: float) -> None:
    report = verify(MatchingInstance.model_validate(periods_doc(rule)), plan)
    assert report.valid, report.violations
    assert report.objective == pytest.approx(objective, abs=1e-12)
    assert contract_candidates(periods_doc(rule))  # the plan's pairs are the candidates


@pytest.mark.parametrize(
    ("rule", "plan", "change", "violation"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_verifier_rejects_each_broken_period_rule(
    rule: str, plan: dict[str, Any], change: Any, violation: str
) -> None:
    instance = MatchingInstance.model_validate(periods_doc(rule))
    assert verify(instance, plan).valid
    report = verify(instance, change(copy.deepcopy(plan)))
    assert not report.valid
    assert violation in report.violations, report.violations


def test_keep_accepts_a_short_run_at_the_last_period_only() -> None:
    instance = MatchingInstance.model_validate(periods_doc("keep", keep_at_least=3))
    assert verify(instance, KEEP_PLAN).valid  # c-d forms in period 3, the last
    late = {
        **KEEP_PLAN,
        "pairs": KEEP_PLAN["pairs"][1:],
    }
    assert verify(instance, late).valid  # a-b runs 2..3: reaches the last period
    early = {
        **KEEP_PLAN,
        "pairs": [KEEP_PLAN["pairs"][k] for k in (0, 1, 3)],
    }
    assert verify(instance, early).violations == [
        "pair (a, b) is formed in period 1 and kept 2 periods, fewer than keep_at_least 3"
    ]


# ------------------------------------------------------------------ hand-checked solves


def test_new_partner_meets_everyone_once() -> None:
    doc = matching(
        ["a", "b", "c", "d"],
        {"a-b": 3, "c-d": 2, "a-c": 1, "b-d": 1, "a-d": 0.5, "b-c": 0.4},
        periods={"count": 3, "rule": "new_partner"},
    )
    solution = solve_doc(doc)
    assert_verified(solution)
    assert solution.solution is not None
    met = [frozenset((p["a"], p["b"])) for p in solution.solution["pairs"]]
    assert len(met) == len(set(met)) == 6  # the three perfect matchings, once each
    assert solution.objective == pytest.approx(7.9)
    assert [row["pairs"] for row in solution.kpis["periods"]] == [2, 2, 2]
    assert "blocking_pairs" not in solution.kpis


def test_keep_waits_for_a_partner_who_sits_a_period_out() -> None:
    """a may not take a partner in period 2: a-b, kept two periods once formed, can only
    form in period 3 (the last), so period 1 leaves a and b apart."""
    doc = matching(
        ["a", "b", "c", "d"],
        {"a-b": 3, "c-d": 2},
        periods={"count": 3, "rule": "keep", "capacity": {"a": [1, 0, 1]}},
    )
    for solver in ("highs", "cbc", "cp-sat"):
        solution = solve_doc(doc, solver)
        assert_verified(solution)
        assert solution.objective == pytest.approx(3 * 2 + 3)
        assert solution.solution is not None
        unmatched = [row["unmatched"] for row in solution.kpis["periods"]]
        assert unmatched == [["a", "b"], ["a", "b"], []]


# ------------------------------------------------------------------ invalid combinations


def _issues(doc: dict[str, Any]) -> set[tuple[str, str]]:
    parsed = parse_document(json.dumps(doc).encode())
    return {(i.code, i.path) for i in parsed.issues if i.severity == "error"}


def test_invalid_period_documents_name_the_field() -> None:
    base = periods_doc()
    wrong = copy.deepcopy(base)
    wrong["periods"]["capacity"] = {"d": [1, 0], "zz": [1, 1, 1]}
    assert _issues(wrong) == {
        ("wrong_length", "periods.capacity.d"),
        ("unknown_reference", "periods.capacity.zz"),
    }
    refused = {
        **base,
        "fairness": {"objective": "max_min"},
        "stability": "require",
        "existing": [["a", "b"]],
    }
    assert _issues(refused) == {
        ("not_with_periods", "fairness.objective"),
        ("not_with_periods", "stability"),
        ("not_with_periods", "existing"),
    }
    required = {**base, "rules": {"required": [["a", "b"]]}}
    assert _issues(required) == {("periods_conflict", "rules.required[0]")}
    kept = {**required, "periods": {**base["periods"], "rule": "keep"}}
    assert _issues(kept) == set()
    assert _issues({**base, "periods": {"count": 10**9}}) == {("out_of_range", "periods.count")}
    grouped = {**base, "mode": "groups"}
    assert ("pairs_mode_only", "periods") in _issues(grouped)


# ------------------------------------------------------------------ the example and plan views


@pytest.fixture(scope="module")
def east_west_periods() -> Any:
    path = INSTANCES / "east-west-periods.json"
    return path, solve_document(path.read_bytes(), default_name=path.stem)


def test_east_west_periods_solves_optimal_and_verifies(east_west_periods: Any) -> None:
    path, solution = east_west_periods
    assert_verified(solution)
    assert solution.status == Status.OPTIMAL
    doc = json.loads(path.read_text(encoding="utf-8"))
    payload = solution.solution
    assert {p["period"] for p in payload["pairs"]} == {1, 2, 3}
    # keep: every pair run that ends before period 3 lasted at least two periods
    runs: dict[frozenset[str], list[int]] = {}
    for p in payload["pairs"]:
        runs.setdefault(frozenset((p["a"], p["b"])), []).append(p["period"])
    for periods in runs.values():
        assert periods != [1] and periods != [2], periods
    # the required counterpart pairs hold every year, and capacity changes are used
    for a, b in doc["rules"]["required"]:
        assert runs[frozenset((a, b))] == [1, 2, 3]
    assert all(p["a"] != "guet" and p["b"] != "guet" for p in payload["pairs"] if p["period"] < 3)
    total = sum(row["total_score"] for row in solution.kpis["periods"])
    assert total == pytest.approx(solution.objective, abs=1e-9)


def test_plan_views_of_a_periods_solution(east_west_periods: Any) -> None:
    path, solution = east_west_periods
    instance = json.loads(path.read_text(encoding="utf-8"))
    document = solution.model_dump(mode="json")
    items = KIND.items(solution.solution)
    assert len(items) == len(solution.solution["pairs"])  # the same pair in two periods: two
    table = KIND.table(document, instance)
    assert table.columns[-1] == "period"
    unmatched_rows = [r for r in table.rows if r[0] == "unmatched"]
    assert [r[1] for r in unmatched_rows] == solution.solution["unmatched"]
    assert [r[-1] for r in table.rows if r[0] == "paired"] == [
        p["period"] for p in solution.solution["pairs"]
    ]
    assert KIND.render(document, instance)
    assert KIND.table(document, None).rows


def test_reasons_name_the_periods_they_hold_in() -> None:
    doc = matching(
        ["a", "b", "c", "d", "e"],
        {"a-b": 3, "c-d": 2, "a-e": 1},
        periods={"count": 2, "rule": "keep", "capacity": {"e": [0, 1]}},
    )
    solution = solve_doc(doc)
    assert_verified(solution)
    reasons = {(e.subject, e.code): e.detail for e in solution.explanations}
    assert reasons[("e", "capacity_zero")] == "period 1: e has capacity 0"
    assert reasons[("e", "partners_taken")].startswith("period 2: the only candidate partner")
    required = {
        **doc,
        "rules": {"required": [["a", "e"]]},
        "periods": {**doc["periods"], "capacity": {"e": [0, 1]}},
    }
    conflict = solve_doc(required)
    assert conflict.status == Status.INFEASIBLE
    assert [(e.code, e.detail) for e in conflict.explanations] == [
        ("required_over_capacity", "period 1: e is in 1 required pairs but its capacity is 0")
    ]


def test_a_multi_year_plan_is_re_planned_from_its_last_period(east_west_periods: Any) -> None:
    """Re-planning one year against a periods solution keeps what is in force at its end:
    the pairs of the last period (contract 5.4.4)."""
    _, solution = east_west_periods
    payload = solution.solution
    last = {frozenset((p["a"], p["b"])) for p in payload["pairs"] if p["period"] == 3}
    doc = json.loads((INSTANCES / "east-west-counterparts.json").read_text(encoding="utf-8"))
    doc["previous"] = payload
    replanned = solve_document(doc, overrides={"change_penalty": 0.05})
    assert_verified(replanned)
    assert not replanned.issues
    kept = replanned.kpis["changes_kept"]
    dropped = replanned.kpis["changes_dropped"]
    moved = replanned.kpis["changes_moved"]
    assert kept + dropped + moved == len(last)
    now = {frozenset((p["a"], p["b"])) for p in replanned.solution["pairs"]}
    assert kept == len(last & now)


@st.composite
def periods_documents(draw: Any) -> dict[str, Any]:
    """Up to five institutions, a few scored pairs, per-period capacities and either rule."""
    names = ["a", "b", "c", "d", "e"][: draw(st.integers(3, 5))]
    count = draw(st.sampled_from([3, 2, 1]))
    pairs = draw(
        st.lists(
            st.sampled_from(list(itertools.combinations(names, 2))),
            min_size=2,
            max_size=6,
            unique=True,
        )
    )
    scores = [
        {"a": a, "b": b, "score": draw(st.sampled_from([-1.0, 0.5, 1.0, 2.25, 3.0]))}
        for a, b in pairs
    ]
    institutions = []
    for name in names:
        capacity = draw(st.sampled_from([1, 1, 2, 0]))
        minimum = draw(st.sampled_from([0, 0, 0, 0, capacity]))
        institutions.append({"id": name, "capacity": capacity, "min_partners": minimum})
    capacity_lists = draw(
        st.dictionaries(
            st.sampled_from(names), st.lists(st.integers(0, 2), min_size=count, max_size=count)
        )
    )
    rule = draw(st.sampled_from(["new_partner", "keep"]))
    periods: dict[str, Any] = {"count": count, "rule": rule, "capacity": capacity_lists}
    if rule == "keep":
        periods["keep_at_least"] = draw(st.integers(1, 3))
    doc = matching(institutions, periods=periods)
    doc["scores"] = scores
    return doc


@given(periods_documents())
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_any_periods_document_is_solved_to_the_brute_force_optimum(doc: dict[str, Any]) -> None:
    best = brute_force_periods(doc)
    solution = solve_doc(doc)
    if best is None:
        assert solution.status == Status.INFEASIBLE, solution.verification.violations
        assert solution.explanations
        return
    assert_verified(solution)
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(best, abs=1e-9)


def test_regression_ids_that_pulp_writes_alike_solve() -> None:
    """Bug: ids 'u-1' and 'u_1' gave two capacity rows of one name in PuLP (which writes
    '-' as '_'), and the periods solve ended in ``error``."""
    doc = matching(["u-1", "u_1", "v"], periods={"count": 2})
    doc["scores"] = [{"a": "u-1", "b": "v", "score": 1.0}, {"a": "u_1", "b": "v", "score": 2.0}]
    solution = solve_doc(doc, "highs")
    assert_verified(solution)
    assert solution.objective == pytest.approx(3.0)
