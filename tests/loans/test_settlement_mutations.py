"""The verifier judges the settlement (contract 7.8): a verified settlement, broken one way
at a time, is rejected by name, and every message the settlement check writes has a break
that produces it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from optimizer.loans import LoansInstance
from optimizer.loans.settlement import fewest_transfers, settlement
from optimizer.loans.verify import verify
from optimizer.loans.verify_settlement import settlement_violations
from tests.violations import message_templates, unmatched_templates

from .helpers import run
from .test_settlement import beyond_the_search as nets_past_the_search
from .test_settlement import example_document

CHECK = "optimizer.loans.verify_settlement"


@pytest.fixture(scope="module")
def solved() -> tuple[LoansInstance, dict[str, Any]]:
    doc = example_document()
    solution = run(doc)
    assert solution.verification.valid
    return LoansInstance.model_validate(doc), solution.solution


def broken(plan: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    change(out["settlement"])
    return out


def row(settled: dict[str, Any], library: str) -> dict[str, Any]:
    return next(r for r in settled["libraries"] if r["library"] == library)


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "price": (lambda s: s.update(price=13.0), "settlement price 13.0, not balance_price 12.0"),
    "order": (
        lambda s: s["libraries"].reverse(),
        "settlement lists libraries ['C', 'B', 'A'], not ['A', 'B', 'C'] in that order",
    ),
    "lent": (
        lambda s: row(s, "A").update(lent=4),
        "settlement row of A reports lent 4, not 3",
    ),
    "net": (lambda s: row(s, "C").update(net=1), "settlement row of C reports net 1, not 0"),
    "row amount": (
        lambda s: row(s, "B").update(amount=-35.0),
        "settlement row of B reports amount -35.0, not -36.0",
    ),
    "payer not owing": (
        lambda s: s["transfers"][0].update({"from": "C"}),
        "transfer 0 from C to A: C is not a net borrower",
    ),
    "payee not owed": (
        lambda s: s["transfers"][0].update(to="C"),
        "transfer 0 from B to C: C is not a net lender",
    ),
    "fractional loans": (
        lambda s: s["transfers"][0].update(loans=2.5),
        "transfer 0 from B to A moves 2.5 loans, not a whole number above 0",
    ),
    "transfer amount": (
        lambda s: s["transfers"][0].update(amount=30.0),
        "transfer 0 from B to A reports amount 30.0, not 36.0",
    ),
    "short": (
        lambda s: s["transfers"][0].update(loans=2, amount=24.0),
        "the transfers settle -2 of B's net -3",
    ),
    "split": (
        lambda s: s.update(
            transfers=[
                {"from": "B", "to": "A", "loans": 1, "amount": 12.0},
                {"from": "B", "to": "A", "loans": 2, "amount": 24.0},
            ]
        ),
        "transfers from B to A appear 2 times",
    ),
    "too many": (
        lambda s: s.update(
            transfers=[
                {"from": "B", "to": "A", "loans": 1, "amount": 12.0},
                {"from": "B", "to": "A", "loans": 2, "amount": 24.0},
            ]
        ),
        "the settlement uses 2 transfers; 2 libraries with a net settle in at most 1",
    ),
    "malformed": (
        lambda s: s.pop("transfers"),
        "the settlement is malformed: KeyError 'transfers'",
    ),
}


def test_the_settlement_verifies(solved: tuple[LoansInstance, dict[str, Any]]) -> None:
    instance, plan = solved
    assert verify(instance, plan).violations == []


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_broken_settlement_is_rejected_by_name(
    solved: tuple[LoansInstance, dict[str, Any]], name: str
) -> None:
    instance, plan = solved
    change, message = MUTATIONS[name]
    found = verify(instance, broken(plan, change))
    assert not found.valid
    assert message in found.violations
    # Compensation is no objective term: a broken settlement leaves the objective as it was.
    assert found.objective == verify(instance, plan).objective


def test_a_settlement_is_required_exactly_when_balance_price_is_set(
    solved: tuple[LoansInstance, dict[str, Any]],
) -> None:
    instance, plan = solved
    without = {k: v for k, v in plan.items() if k != "settlement"}
    assert "balance_price is set but the solution has no settlement" in (
        verify(instance, without).violations
    )
    unpriced = instance.model_copy(
        update={"policies": instance.policies.model_copy(update={"balance_price": None})}
    )
    assert verify(unpriced, plan).violations == [
        "the solution has a settlement but balance_price is not set"
    ]


def four_libraries() -> tuple[LoansInstance, dict[str, Any]]:
    """Nets A +2, B -2, C +1, D -1: two transfers suffice, three are allowed (N - 1)."""
    doc = example_document()
    doc["libraries"].append({"id": "D"})
    doc["copies"] = [
        {"id": "a1", "library": "A", "title": "T"},
        {"id": "a2", "library": "A", "title": "T"},
        {"id": "c1", "library": "C", "title": "T"},
    ]
    doc["requests"] = [r for r in doc["requests"] if r["id"] in ("qB1", "qB2")]
    doc["requests"].append({**doc["requests"][0], "id": "qD", "library": "D"})
    doc["shipping"] = [{"from": "A", "to": "B", "days": 1, "cost": 5.0}]
    doc["shipping"].append({"from": "C", "to": "D", "days": 1, "cost": 5.0})
    solution = run(doc)
    assert solution.verification.valid and solution.solution["unfilled"] == []
    assert len(solution.solution["settlement"]["transfers"]) == 2
    return LoansInstance.model_validate(doc), solution.solution


def three_transfers(claim: bool) -> Callable[[dict[str, Any]], None]:
    def change(s: dict[str, Any]) -> None:
        s["transfers"] = [
            {"from": "B", "to": "A", "loans": 1, "amount": 12.0},
            {"from": "B", "to": "C", "loans": 1, "amount": 12.0},
            {"from": "D", "to": "A", "loans": 1, "amount": 12.0},
        ]
        s["fewest_transfers"] = claim

    return change


def test_more_transfers_than_the_fewest_pass_only_without_the_claim() -> None:
    instance, plan = four_libraries()
    assert verify(instance, broken(plan, three_transfers(claim=False))).valid
    assert verify(instance, broken(plan, three_transfers(claim=True))).violations == [
        "the settlement claims the fewest transfers with 3, but 2 suffice"
    ]


def beyond_the_search() -> list[str]:
    """27 libraries with no two nets cancelling: the fewest cannot be claimed."""
    nets = nets_past_the_search()
    libraries = list(nets)
    instance = LoansInstance.model_validate(
        {
            "kind": "loans",
            "horizon": {"start": "2026-12-01", "end": "2026-12-31"},
            "libraries": [{"id": x} for x in libraries],
            "policies": {"balance_price": 1.0},
        }
    )
    lent = {x: max(0, v) for x, v in nets.items()}
    received = {x: max(0, -v) for x, v in nets.items()}
    # The builder counts from loans; here the counts are given, so its rows are rebuilt.
    settled = settlement(instance, {"loans": []})
    for r in settled["libraries"]:
        r.update(lent=lent[r["library"]], received=received[r["library"]])
        r.update(net=r["lent"] - r["received"], amount=float(r["lent"] - r["received"]))
    moves, proven = fewest_transfers(nets)
    assert not proven
    settled["fewest_transfers"] = False
    settled["transfers"] = [
        {"from": a, "to": b, "loans": n, "amount": float(n)} for a, b, n in moves
    ]
    assert settlement_violations(instance, {"settlement": settled}, lent, received) == []
    settled["fewest_transfers"] = True
    return settlement_violations(instance, {"settlement": settled}, lent, received)


def test_the_fewest_cannot_be_claimed_past_the_search() -> None:
    assert beyond_the_search() == [
        "the settlement claims the fewest transfers, which the contract proves only for at "
        "most 24 libraries left after pairing"
    ]


def test_every_message_of_the_settlement_check_has_a_break(
    solved: tuple[LoansInstance, dict[str, Any]],
) -> None:
    instance, plan = solved
    messages = [
        m
        for change, _ in MUTATIONS.values()
        for m in verify(instance, broken(plan, change)).violations
    ]
    without = {k: v for k, v in plan.items() if k != "settlement"}
    messages += verify(instance, without).violations
    unpriced = instance.model_copy(
        update={"policies": instance.policies.model_copy(update={"balance_price": None})}
    )
    messages += verify(unpriced, plan).violations
    four, four_plan = four_libraries()
    messages += verify(four, broken(four_plan, three_transfers(claim=True))).violations
    messages += beyond_the_search()
    assert len(message_templates(CHECK)) >= 14
    assert unmatched_templates(CHECK, messages) == []
