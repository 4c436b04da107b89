"""The verifier as judge of the courier rules (contract 7.7): a plan written by hand from the
contract verifies; broken one rule at a time, it is rejected with that rule named.

The instance is the example of 7.7 with a second request, q2, for a title only cqu-lib
holds: both loans ride cqu-xju on Monday 12-07 and, due on the Friday xju-lib is closed,
come back together on Tuesday's xju-cqu run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from optimizer.loans.schema import LoansInstance
from optimizer.loans.verify import verify
from optimizer.loans.verify_couriers import frozen_couriers
from tests.violations import unmatched_templates

from .test_couriers import contract_example

VERIFIER = "optimizer.loans.verify_couriers"


def instance_document() -> dict[str, Any]:
    doc = contract_example()
    doc["copies"].append({"id": "c3", "library": "cqu-lib", "title": "isbn:9787302000000"})
    doc["requests"].append(
        {
            "id": "q2",
            "library": "xju-lib",
            "titles": ["isbn:9787302000000"],
            "needed_by": "2026-12-20",
        }
    )
    return doc


def loan(rid: str, cid: str, title: str, late: int) -> dict[str, Any]:
    return {
        "request": rid,
        "copy": cid,
        "lender": "cqu-lib",
        "title": title,
        "ship": "2026-12-07",
        "arrive": "2026-12-11",
        "due_back": "2027-01-08",
        "home": "2027-01-16",
        "late_days": late,
        "cost": 3.0,
        "borrower": "xju-lib",
        "courier": "cqu-xju",
        "return_courier": "xju-cqu",
        "return_ship": "2027-01-12",
    }


PLAN: dict[str, Any] = {
    "loans": [
        loan("q1", "c1", "isbn:9787040396638", 1),
        loan("q2", "c3", "isbn:9787302000000", 0),
    ],
    "unfilled": [],
    "runs": [
        {"courier": "cqu-xju", "day": "2026-12-07", "items": 2, "cost": 60.0},
        {"courier": "xju-cqu", "day": "2027-01-12", "items": 2, "cost": 60.0},
    ],
}
# Two runs paid once each, two legs handled per loan, one day late for q1.
PLAN_OBJECTIVE = 60 + 60 + 4 * 1.5 + 5 * 1


@pytest.fixture(scope="module")
def instance() -> LoansInstance:
    return LoansInstance.model_validate(instance_document())


def edited(plan: dict[str, Any], rid: str, **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    for e in out["loans"]:
        if e["request"] == rid:
            e.update(fields)
    return out


def with_runs(plan: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {**copy.deepcopy(plan), "runs": runs}


Mutation = Callable[[dict[str, Any]], dict[str, Any]]
RUN_OUT, RUN_BACK = PLAN["runs"]

# (id, mutation of the plan, a violation it must produce)
MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "unknown-courier",
        lambda p: edited(p, "q1", courier="van-9"),
        "courier: loan for q1 names no courier of the instance ('van-9')",
    ),
    (
        "courier-the-wrong-way",
        lambda p: edited(p, "q1", courier="xju-cqu"),
        "courier: loan for q1 rides xju-cqu, which goes xju-lib -> cqu-lib, not cqu-lib -> xju-lib",
    ),
    (
        "ships-on-a-day-the-courier-does-not-run",
        lambda p: edited(p, "q2", ship="2026-12-08", arrive="2026-12-12"),
        "courier: loan for q2 ships on 2026-12-08, weekday 2, and cqu-xju runs on weekdays "
        "[1, 4] only",
    ),
    (
        "return-on-a-later-run",
        lambda p: edited(p, "q2", return_ship="2027-01-15", home="2027-01-19"),
        "return leg: loan for q2 returns with xju-cqu on 2027-01-15, but the first run back on "
        "or after 2027-01-08 is xju-cqu on 2027-01-12",
    ),
    (
        "return-on-the-closed-day",
        lambda p: edited(p, "q2", return_ship="2027-01-08", home="2027-01-12"),
        "return leg: loan for q2 returns with xju-cqu on 2027-01-08, but the first run back on "
        "or after 2027-01-08 is xju-cqu on 2027-01-12",
    ),
    (
        "home-before-the-return-run-arrives",
        lambda p: edited(p, "q1", home="2027-01-12"),
        "loan for q1 reports home 2027-01-12, not 2027-01-16",
    ),
    (
        "cost-of-a-parcel",
        lambda p: edited(p, "q1", cost=18.0),
        "loan for q1 reports cost 18.0, not 3.0",
    ),
    (
        "a-run-missing",
        lambda p: with_runs(p, [RUN_OUT]),
        "runs list: xju-cqu on 2027-01-12 carries legs of the plan but is not listed",
    ),
    (
        "a-run-without-legs",
        lambda p: with_runs(
            p, [*p["runs"], {"courier": "scu-xju", "day": "2026-12-02", "items": 0, "cost": 80.0}]
        ),
        "runs list: scu-xju on 2026-12-02 carries no leg of the plan",
    ),
    (
        "a-run-twice",
        lambda p: with_runs(p, [*p["runs"], RUN_OUT]),
        "runs list: cqu-xju on 2026-12-07 is listed twice",
    ),
    (
        "items-miscounted",
        lambda p: with_runs(p, [{**RUN_OUT, "items": 1}, RUN_BACK]),
        "runs list: cqu-xju on 2026-12-07 reports 1 items, not 2",
    ),
    (
        "run-cost-wrong",
        lambda p: with_runs(p, [RUN_OUT, {**RUN_BACK, "cost": 6.0}]),
        "runs list: xju-cqu on 2027-01-12 reports cost 6.0, not 60.0",
    ),
    (
        "no-runs-list",
        lambda p: {k: v for k, v in p.items() if k != "runs"},
        "runs list: the solution has no runs list",
    ),
]


def test_the_plan_verifies_with_the_objective_of_the_contract(instance: LoansInstance) -> None:
    report = verify(instance, PLAN)
    assert report.valid, report.violations
    assert report.objective == pytest.approx(PLAN_OBJECTIVE, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "violation"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_each_broken_rule_is_named(
    instance: LoansInstance, change: Mutation, violation: str
) -> None:
    report = verify(instance, change(PLAN))
    assert not report.valid
    assert violation in report.violations, report.violations


# Rules that the instance breaks rather than the plan: the same plan under an instance
# changed in one way.
INSTANCE_CHANGES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "lender-closed-on-the-ship-day",
        lambda d: d["libraries"][0].update(closed_dates=["2026-12-07"]),
        "closed day: loan for q1 ships on 2026-12-07, when cqu-lib is closed",
    ),
    (
        "borrower-closed-on-arrival",
        lambda d: d["libraries"][2].update(closed_weekdays=[5]),
        "closed day: loan for q2 arrives on 2026-12-11, when xju-lib is closed",
    ),
    (
        "run-over-capacity",
        lambda d: d["couriers"][1].update(capacity=1),
        "run capacity: xju-cqu on 2027-01-12 carries 2 items, above 1",
    ),
    (
        "no-run-back-ever",
        # Back runs leave Tuesdays and Fridays and arrive four days later, on Saturdays and
        # Tuesdays: with cqu-lib closed on both, no courier ever runs back.
        lambda d: d["libraries"][0].update(closed_weekdays=[6, 2]),
        "return leg: loan for q1 has no courier run from xju-lib to cqu-lib on or after 2027-01-08",
    ),
]


@pytest.mark.parametrize(
    ("change", "violation"),
    [m[1:] for m in INSTANCE_CHANGES],
    ids=[m[0] for m in INSTANCE_CHANGES],
)
def test_each_calendar_and_capacity_rule_is_named(
    change: Callable[[dict[str, Any]], None], violation: str
) -> None:
    doc = instance_document()
    change(doc)
    report = verify(LoansInstance.model_validate(doc), PLAN)
    assert not report.valid
    assert violation in report.violations, report.violations


def frozen_on_another_courier(named: bool) -> list[str]:
    """Re-planning the plan with a faster courier on Mondays too, after both loans shipped:
    the previous plan had them on the fast one (named, or as the first run that day), the
    plan keeps each item but rides the slower one."""
    doc = instance_document()
    fast = {**doc["couriers"][0], "id": "cqu-xju-fast", "days": 3}
    doc["couriers"].append(fast)
    doc["options"] = {"now": "2026-12-08T09:00:00+08:00"}
    previous = copy.deepcopy(PLAN)
    for x in previous["loans"]:
        if named:
            x["courier"] = "cqu-xju-fast"
        else:
            del x["courier"]
    doc["previous"] = previous
    return frozen_couriers(LoansInstance.model_validate(doc), previous, PLAN)


@pytest.mark.parametrize("named", [True, False])
def test_a_frozen_loan_on_another_courier_is_named(named: bool) -> None:
    assert frozen_on_another_courier(named) == [
        f"frozen courier: {rid} shipped on cqu-xju-fast on 2026-12-07 but rides cqu-xju"
        for rid in ("q1", "q2")
    ]


def test_a_frozen_loan_on_its_courier_passes(instance: LoansInstance) -> None:
    doc = instance_document()
    doc["options"] = {"now": "2026-12-08T09:00:00+08:00"}
    doc["previous"] = PLAN
    assert frozen_couriers(LoansInstance.model_validate(doc), PLAN, PLAN) == []


def test_every_violation_the_courier_rules_write_has_a_mutation(instance: LoansInstance) -> None:
    messages = [v for _, change, _ in MUTATIONS for v in verify(instance, change(PLAN)).violations]
    messages += frozen_on_another_courier(named=True)
    for _, change_doc, _ in INSTANCE_CHANGES:
        doc = instance_document()
        change_doc(doc)
        messages += verify(LoansInstance.model_validate(doc), PLAN).violations
    assert unmatched_templates(VERIFIER, messages) == []


def test_a_broken_plan_still_gets_its_objective_recomputed(instance: LoansInstance) -> None:
    """Run costs come from the instance, not from the runs list."""
    report = verify(instance, with_runs(PLAN, [RUN_OUT, {**RUN_BACK, "cost": 6.0}]))
    assert report.objective == pytest.approx(PLAN_OBJECTIVE, abs=1e-9)
