"""The verifier as judge: a verified plan, broken one rule at a time, is rejected by name.

The plan below is written by hand from the contract (section 7) and exercises every rule: a
copy lent twice in a row, a late loan, a library at its ``max_outgoing``, both libraries at
``max_imbalance``, ``keep_one_on_shelf`` with two copies of a title, a copy that is not
lendable, routes that differ by direction, and requests left unfilled. Each mutation breaks
one rule (a few break a second one by nature, e.g. a loan too many for ``max_outgoing`` also
shifts the lent/received balance) and names the violation it must produce: the ids involved
and the rule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from optimizer.loans.schema import LoansInstance
from optimizer.loans.verify import verify
from tests.violations import message_templates, unmatched_templates

from .helpers import START, document, iso

VERIFIER = "optimizer.loans.verify"

# Directed routes: A -> C and C -> A differ; B and C share one entry; A and B have none.
ROUTES = {
    ("A", "C"): (2, 10.0),
    ("C", "A"): (3, 12.0),
    ("B", "C"): (1, 20.0),
    ("C", "B"): (1, 20.0),
}
LOAN_DAYS = {"q1": 5, "q2": 4, "q3": 3, "q4": 3, "q5": 7, "q6": 2}
NEEDED_BY = {"q1": 3, "q2": 1, "q3": 10, "q4": 20, "q5": 20, "q6": 25}
BORROWER = {"q1": "C", "q2": "C", "q3": "B", "q4": "C", "q5": "B", "q6": "C"}
COPIES = {  # id: (library, title)
    "a1": ("A", "T1"),
    "a2": ("A", "T1"),
    "a3": ("A", "T2"),
    "a4": ("A", "T2"),
    "a5": ("A", "T2"),
    "b1": ("B", "T1"),
    "c1": ("C", "T1"),
}


def instance_document(**policies: Any) -> dict[str, Any]:
    doc = document(
        [{"id": "A", "max_outgoing": 3}, "B", "C"],
        [
            {"id": cid, "library": lib, "title": title}
            | ({"lendable": False} if cid == "a3" else {})
            | ({"available_from": iso(5)} if cid == "b1" else {})
            for cid, (lib, title) in COPIES.items()
        ],
        [
            {
                "id": rid,
                "library": BORROWER[rid],
                "titles": {"q2": ["T2"], "q5": ["T9"], "q6": ["T2"]}.get(rid, ["T1"]),
                "requested_on": iso({"q2": 1, "q4": 1}.get(rid, 0)),
                "needed_by": iso(NEEDED_BY[rid]),
                "loan_days": LOAN_DAYS[rid],
                "weight": 2.0 if rid == "q2" else 1.0,
            }
            for rid in LOAN_DAYS
        ],
        [
            {"from": "A", "to": "C", "days": 2, "cost": 10.0},
            {"from": "C", "to": "A", "days": 3, "cost": 12.0},
            {"from": "B", "to": "C", "days": 1, "cost": 20.0},
        ],
        keep_one_on_shelf=True,
        max_imbalance=3,
    )
    doc["policies"].update(policies)
    return doc


def loan(rid: str, cid: str, ship_day: int) -> dict[str, Any]:
    """A loan entry with every derived field computed from the contract's formulas."""
    lender, title = COPIES[cid]
    borrower = BORROWER[rid]
    out_days, cost = ROUTES.get((lender, borrower), (0, 0.0))
    back_days, _ = ROUTES.get((borrower, lender), (0, 0.0))
    ship = START + timedelta(days=ship_day)
    arrive = ship + timedelta(days=out_days)
    due_back = arrive + timedelta(days=LOAN_DAYS[rid])
    return {
        "request": rid,
        "copy": cid,
        "lender": lender,
        "title": title,
        "ship": ship.isoformat(),
        "arrive": arrive.isoformat(),
        "due_back": due_back.isoformat(),
        "home": (due_back + timedelta(days=back_days)).isoformat(),
        "late_days": max(0, (arrive - (START + timedelta(days=NEEDED_BY[rid]))).days),
        "cost": cost,
        "borrower": borrower,
    }


# A lends three loans (its max_outgoing), C receives three (max_imbalance 3 for both); a1 goes
# out twice with a day's margin, a2 stays on the shelf for T1 and a5 for T2.
PLAN: dict[str, Any] = {
    "loans": [loan("q1", "a1", 0), loan("q2", "a4", 1), loan("q4", "a1", 10)],
    "unfilled": ["q3", "q5", "q6"],
}
# 3 shipments at 10; q2 arrives on day 3, two days late at weight 2; three unfilled at 100.
PLAN_OBJECTIVE = 3 * 10.0 + 5.0 * 2.0 * 2 + 3 * 100.0


@pytest.fixture(scope="module")
def instance() -> LoansInstance:
    return LoansInstance.model_validate(instance_document())


def with_loan(plan: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    out["loans"].append(entry)
    out["unfilled"] = [r for r in out["unfilled"] if r != entry["request"]]
    return out


def edited(plan: dict[str, Any], rid: str, **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    for entry in out["loans"]:
        if entry["request"] == rid:
            entry.update(fields)
    return out


def replaced(plan: dict[str, Any], rid: str, entry: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    out["loans"] = [entry if e["request"] == rid else e for e in out["loans"]]
    return out


Mutation = Callable[[dict[str, Any]], dict[str, Any]]

# (id, mutation of the plan, a violation it must produce)
MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "unknown-request",
        lambda p: with_loan(p, {**loan("q1", "a2", 0), "request": "q-nope"}),
        "a loan names the unknown request 'q-nope'",
    ),
    (
        "unknown-copy",
        lambda p: edited(p, "q1", copy="c-nope"),
        "loan for q1 names the unknown copy 'c-nope'",
    ),
    (
        "filled-twice",
        lambda p: with_loan(p, loan("q1", "a2", 20)),
        "request q1 is filled more than once",
    ),
    (
        "not-lendable",
        lambda p: edited(p, "q2", copy="a3"),
        "loan for q2 uses copy a3, which is not lendable",
    ),
    (
        "title-not-requested",
        lambda p: replaced(p, "q2", loan("q2", "a2", 1)),
        "loan for q2: copy a2 holds T1, not a requested title",
    ),
    (
        "reported-title",
        lambda p: edited(p, "q1", title="T2"),
        "loan for q1 reports title T2, not T1",
    ),
    (
        "reported-lender",
        lambda p: edited(p, "q1", lender="B"),
        "loan for q1 reports lender B, not A",
    ),
    (
        "reported-borrower",
        lambda p: edited(p, "q1", borrower="B"),
        "loan for q1 reports borrower B, not C",
    ),
    (
        "lends-to-itself",
        lambda p: with_loan(p, loan("q3", "b1", 5)),
        "loan for q3: B cannot lend to itself",
    ),
    (
        "no-route",
        lambda p: with_loan(p, loan("q3", "a2", 0)),
        "loan for q3: no shipping route between A and B",
    ),
    (
        "no-ship-date",
        lambda p: edited(p, "q1", ship="soon"),
        "loan for q1 has no valid ship date",
    ),
    (
        "ships-before-request",
        lambda p: replaced(p, "q2", loan("q2", "a4", 0)),
        f"loan for q2 ships on {iso(0)}, before {iso(1)}",
    ),
    (
        "ships-before-copy-is-back-from-elsewhere",
        lambda p: replaced(p, "q4", loan("q4", "b1", 4)),
        f"loan for q4 ships on {iso(4)}, before {iso(5)}",
    ),
    (
        "ships-after-horizon",
        lambda p: replaced(p, "q4", loan("q4", "a1", 30)),
        f"loan for q4 ships on {iso(30)}, after the horizon end {iso(29)}",
    ),
    (
        "arrive",
        lambda p: edited(p, "q1", arrive=iso(3)),
        f"loan for q1 reports arrive {iso(3)}, not {iso(2)}",
    ),
    (
        "due-back",
        lambda p: edited(p, "q1", due_back=iso(8)),
        f"loan for q1 reports due_back {iso(8)}, not {iso(7)}",
    ),
    (
        "home",
        lambda p: edited(p, "q1", home=iso(9)),
        f"loan for q1 reports home {iso(9)}, not {iso(10)}",
    ),
    (
        "late-days",
        lambda p: edited(p, "q2", late_days=0),
        "loan for q2 reports 0 days late, not 2",
    ),
    ("cost", lambda p: edited(p, "q1", cost=9.0), "loan for q1 reports cost 9.0, not 10.0"),
    (
        "cost-nan",
        lambda p: edited(p, "q1", cost=math.nan),
        "loan for q1 reports cost nan, not 10.0",
    ),
    (
        "copy-overlap",
        lambda p: replaced(p, "q4", loan("q4", "a1", 9)),
        f"copy a1 serves q1 until {iso(10)} and q4 from {iso(9)}: the loans overlap",
    ),
    (
        "max-outgoing",
        lambda p: with_loan(p, loan("q6", "a5", 10)),
        "A ships 4 loans, above max_outgoing 3",
    ),
    (
        "keep-one-on-shelf",
        lambda p: replaced(p, "q4", loan("q4", "a2", 1)),
        f"keep_one_on_shelf: A has no copy of T1 on its shelf on {iso(1)}",
    ),
    (
        "max-imbalance",
        lambda p: with_loan(p, loan("q6", "a5", 10)),
        "A lends 4 and receives 0, more than max_imbalance 3 apart",
    ),
    (
        "unfilled-repeats",
        lambda p: {**p, "unfilled": [*p["unfilled"], "q3"]},
        "the unfilled list repeats a request",
    ),
    (
        "unfilled-misses-one",
        lambda p: {**p, "unfilled": ["q3", "q5"]},
        "the unfilled list does not match the requests without a loan",
    ),
    (
        "unfilled-lists-a-filled-one",
        lambda p: {**p, "unfilled": [*p["unfilled"], "q1"]},
        "the unfilled list does not match the requests without a loan",
    ),
    (
        "runs-without-couriers",
        lambda p: {**p, "runs": [{"courier": "k", "day": iso(0), "items": 1, "cost": 0.0}]},
        "runs list: the solution lists courier runs, but there are no couriers",
    ),
]


def test_the_plan_verifies_with_the_objective_of_the_contract(instance: LoansInstance) -> None:
    report = verify(instance, PLAN)
    assert report.valid, report.violations
    assert report.objective == pytest.approx(PLAN_OBJECTIVE, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "violation"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_verifier_rejects_each_broken_rule_by_name(
    instance: LoansInstance, change: Mutation, violation: str
) -> None:
    assert verify(instance, PLAN).valid
    report = verify(instance, change(copy.deepcopy(PLAN)))
    assert not report.valid
    assert violation in report.violations, report.violations


def test_a_tighter_policy_rejects_the_same_plan() -> None:
    """The plan sits exactly on max_imbalance 3 and needs keep_one_on_shelf's second copies."""
    tight = LoansInstance.model_validate(instance_document(max_imbalance=2))
    assert verify(tight, PLAN).violations == [
        "A lends 3 and receives 0, more than max_imbalance 2 apart",
        "C lends 0 and receives 3, more than max_imbalance 2 apart",
    ]
    doc = instance_document()
    doc["copies"] = [c for c in doc["copies"] if c["id"] != "a2"]
    alone = LoansInstance.model_validate(doc)
    assert verify(alone, PLAN).violations == [
        f"keep_one_on_shelf: A has no copy of T1 on its shelf on {iso(0)}"
    ]


@pytest.mark.parametrize(("field", "value"), [("cost", 0.0), ("late_days", 0), ("cost", math.nan)])
def test_reported_numbers_never_change_the_recomputed_objective(
    instance: LoansInstance, field: str, value: Any
) -> None:
    broken = edited(PLAN, "q2", **{field: value})
    report = verify(instance, broken)
    assert not report.valid
    assert report.objective == pytest.approx(PLAN_OBJECTIVE, abs=1e-9)


def test_every_violation_the_verifier_writes_has_a_mutation(instance: LoansInstance) -> None:
    messages = [v for _, change, _ in MUTATIONS for v in verify(instance, change(PLAN)).violations]
    assert len(message_templates(VERIFIER)) >= 20
    assert unmatched_templates(VERIFIER, messages) == []


def test_regression_a_nan_cost_passed_the_cost_check(instance: LoansInstance) -> None:
    """Bug: ``abs(reported - cost) > tolerance`` is false for NaN, so a NaN cost verified."""
    report = verify(instance, edited(PLAN, "q1", cost=math.nan))
    assert report.violations == ["loan for q1 reports cost nan, not 10.0"]


def test_regression_a_wrong_borrower_was_not_checked(instance: LoansInstance) -> None:
    """Bug: the verifier checked each loan's reported lender and title, not its borrower."""
    report = verify(instance, edited(PLAN, "q4", borrower="A"))
    assert report.violations == ["loan for q4 reports borrower A, not C"]
    assert verify(instance, edited(PLAN, "q4", borrower=None)).valid
