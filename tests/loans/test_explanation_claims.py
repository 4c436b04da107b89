"""Every claim an unfilled request's explanation makes is true of the instance and the plan,
checked from the instance document and the plan alone (neither the reasons' code nor the
verifier): the competing request named does hold the named copy over the named days, the
copy was on its shelf when the reason says so, the earliest arrival quoted is the earliest,
and the day after which a loan costs the penalty is that day."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from .helpers import random_document, run

# A copy's clause runs to the next "; " that does not start its cost horizon.
COPY_CLAUSE = re.compile(r"copy (\S+) from (\S+) was (.*?)(?=; (?!shipped after)|$)")
BUSY = re.compile(
    r"already out when this request could first ship it on (\S+), lent to (\S+) from (\S+) "
    r"until (\S+)"
)
GIVEN = re.compile(
    r"on the shelf on (\S+), (the first day this request could ship it|when it came back), "
    r"but the plan gives it to (\S+) \(weight (\S+), (the same as|above|below) this "
    r"request's\) from (\S+) until (\S+)"
)
WORTH_UNTIL = re.compile(r"^; shipped after (\S+) it would cost at least the penalty (\S+)$")
NUMBER = r"[0-9.e+]+"
EARLIEST = re.compile(
    r"the earliest a copy of (\S+) can arrive is (\S+) \(copy (\S+) from (\S+)\), (\d+) days "
    r"after needed_by (\S+); the cheapest loan \(copy (\S+) from (\S+)\) would cost (NUMBER) in "
    r"shipping and lateness, not less than the unfilled penalty (NUMBER)".replace("NUMBER", NUMBER)
)
CHEAPEST = re.compile(
    r"the cheapest loan of (\S+) \(copy (\S+) from (\S+)\) would cost (NUMBER) in shipping and "
    r"lateness, not less than the unfilled penalty (NUMBER)".replace("NUMBER", NUMBER)
)
OPEN_COPY = re.compile(
    r"copy (\S+) from (\S+) could still be lent \(ship (\S+), cost (\S+)\) for less than the "
    r"penalty (\S+); the search stopped before placing it"
)
AT_CAP = re.compile(r"copy (\S+) from (\S+): \2 already ships its max_outgoing (\d+)")
OVER_BALANCE = re.compile(
    r"copy (\S+) from (\S+): a loan from \2 to (\S+) would push one of them past "
    r"max_imbalance (\d+)"
)
LAST_ON_SHELF = re.compile(
    r"copy (\S+) from (\S+): whenever it is free, lending it would leave \2 without a copy "
    r"of (\S+) on its shelf"
)


class World:
    """The instance document and the plan, in days."""

    def __init__(self, doc: dict[str, Any], plan: dict[str, Any]):
        self.doc = doc
        self.start = date.fromisoformat(doc["horizon"]["start"])
        self.last = self.day(doc["horizon"]["end"])
        self.copies = {c["id"]: c for c in doc["copies"]}
        self.requests = {r["id"]: r for r in doc["requests"]}
        self.loans = plan["loans"]
        self.routes: dict[tuple[str, str], tuple[int, float]] = {}
        for s in doc["shipping"]:
            self.routes[(s["from"], s["to"])] = (s["days"], s["cost"])
        for s in doc["shipping"]:
            self.routes.setdefault((s["to"], s["from"]), (s["days"], s["cost"]))

    def day(self, text: str) -> int:
        return (date.fromisoformat(text) - self.start).days

    def iso(self, day: int) -> str:
        return (self.start + timedelta(days=day)).isoformat()

    def first_day(self, r: dict[str, Any], c: dict[str, Any]) -> int:
        opened = self.day(r["requested_on"]) if r.get("requested_on") else 0
        shelved = self.day(c["available_from"]) if c.get("available_from") else 0
        return max(0, opened, shelved)

    def cost(self, r: dict[str, Any], c: dict[str, Any], ship: int) -> float:
        days, cost = self.routes[(c["library"], r["library"])]
        pen = self.doc["penalties"]
        late = max(0, ship + days - self.day(r["needed_by"]))
        return cost + pen["late_per_day"] * r["weight"] * late

    def penalty(self, r: dict[str, Any]) -> float:
        return self.doc["penalties"]["unfilled"] * r["weight"]

    def loan(self, copy: str, request: str, ship: str, home: str) -> bool:
        return any(
            (e["copy"], e["request"], e["ship"], e["home"]) == (copy, request, ship, home)
            for e in self.loans
        )

    def out_on(self, copy: str, day: int) -> bool:
        """Whether a loan of the plan has the copy away on ``day`` (not shipping that day)."""
        return any(
            e["copy"] == copy and self.day(e["ship"]) < day < self.day(e["home"])
            for e in self.loans
        )

    def candidates(self, r: dict[str, Any], title: str) -> list[dict[str, Any]]:
        """Lendable copies of ``title`` elsewhere, with a route, on a shelf in the horizon."""
        return [
            c
            for c in self.doc["copies"]
            if c["title"] == title
            and c.get("lendable", True)
            and c["library"] != r["library"]
            and (c["library"], r["library"]) in self.routes
            and self.first_day(r, c) <= self.last
        ]


def check_copy_clauses(world: World, r: dict[str, Any], detail: str) -> None:
    """The claims about copies taken by other requests."""
    for match in COPY_CLAUSE.finditer(detail):
        cid, library, body = match.groups()
        c = world.copies[cid]
        assert c["library"] == library and c["title"] in r["titles"]
        first = world.first_day(r, c)
        body, _, tail = body.partition("; shipped after")
        for part in body.split(" and then "):
            if busy := BUSY.fullmatch(part):
                on, holder, ship, home = busy.groups()
                assert world.day(on) == first
                assert world.loan(cid, holder, ship, home)
                assert world.day(ship) < first < world.day(home)
            elif given := GIVEN.fullmatch(part):
                on, when, holder, weight, compared, ship, home = given.groups()
                assert world.loan(cid, holder, ship, home)
                assert world.day(on) >= first and world.day(ship) >= world.day(on)
                assert (world.day(on) == first) == (when.startswith("the first day"))
                assert not world.out_on(cid, world.day(on))
                theirs, ours = world.requests[holder]["weight"], r["weight"]
                assert float(weight) == theirs
                assert (
                    compared
                    == {0: "the same as", 1: "above", -1: "below"}[
                        (theirs > ours) - (theirs < ours)
                    ]
                )
            else:
                raise AssertionError(f"unread claim: {part!r}")
        if tail:
            until = WORTH_UNTIL.fullmatch("; shipped after" + tail)
            assert until is not None, tail
            day, penalty = world.day(until.group(1)), float(until.group(2))
            assert penalty == world.penalty(r)
            assert world.cost(r, c, day) < penalty <= world.cost(r, c, day + 1)


def check_open_copy(world: World, r: dict[str, Any], detail: str) -> None:
    """A copy the plan leaves free: the loan named breaks no rule against the plan."""
    match = OPEN_COPY.fullmatch(detail)
    assert match is not None, detail
    cid, library, ship_text, cost, penalty = match.groups()
    c = world.copies[cid]
    ship = world.day(ship_text)
    there, back = world.routes[(library, r["library"])][0], world.routes[(r["library"], library)][0]
    home = ship + there + r["loan_days"] + back
    assert c["library"] == library and c.get("lendable", True) and c["title"] in r["titles"]
    assert world.first_day(r, c) <= ship <= world.last
    assert float(cost) == pytest.approx(world.cost(r, c, ship))
    assert float(cost) < float(penalty)
    assert float(penalty) == world.penalty(r)
    for e in world.loans:
        if e["copy"] == cid:
            assert world.day(e["home"]) <= ship or home <= world.day(e["ship"])
    lent = sum(1 for e in world.loans if e["lender"] == library)
    (lib,) = [x for x in world.doc["libraries"] if x["id"] == library]
    assert lib.get("max_outgoing") is None or lent < lib["max_outgoing"]
    k = world.doc["policies"]["max_imbalance"]
    if k is not None:
        borrower_of = {q: world.requests[q]["library"] for q in world.requests}
        net = {x["id"]: 0 for x in world.doc["libraries"]}
        for e in world.loans:
            net[e["lender"]] += 1
            net[borrower_of[e["request"]]] -= 1
        assert abs(net[library] + 1) <= k and abs(net[r["library"]] - 1) <= k
    if world.doc["policies"]["keep_one_on_shelf"]:
        others = [
            o
            for o in world.doc["copies"]
            if o["library"] == library
            and o["title"] == c["title"]
            and o["id"] != cid
            and o.get("lendable", True)
        ]
        for day in range(ship, home):
            assert any(
                (world.day(o["available_from"]) if o.get("available_from") else 0) <= day
                and not any(
                    e["copy"] == o["id"] and world.day(e["ship"]) <= day < world.day(e["home"])
                    for e in world.loans
                )
                for o in others
            )


def check_policies(world: World, r: dict[str, Any], detail: str) -> None:
    """The claims that max_imbalance or keep_one_on_shelf keep a copy from the request."""
    net = {x["id"]: 0 for x in world.doc["libraries"]}
    for e in world.loans:
        net[e["lender"]] += 1
        net[world.requests[e["request"]]["library"]] -= 1
    for match in OVER_BALANCE.finditer(detail):
        _cid, lender, borrower, cap = match.groups()
        assert borrower == r["library"] and int(cap) == world.doc["policies"]["max_imbalance"]
        assert abs(net[lender] + 1) > int(cap) or abs(net[borrower] - 1) > int(cap)
    for match in LAST_ON_SHELF.finditer(detail):
        cid, library, title = match.groups()
        assert world.doc["policies"]["keep_one_on_shelf"]
        c = world.copies[cid]
        assert c["title"] == title and c["library"] == library
        there, back = (
            world.routes[(library, r["library"])][0],
            world.routes[(r["library"], library)][0],
        )
        span = there + r["loan_days"] + back
        others = [
            o
            for o in world.doc["copies"]
            if (o["library"], o["title"]) == (library, title)
            and o["id"] != cid
            and o.get("lendable", True)
        ]

        def on_shelf(o: dict[str, Any], day: int) -> bool:
            shelved = world.day(o["available_from"]) if o.get("available_from") else 0
            return shelved <= day and not any(
                e["copy"] == o["id"] and world.day(e["ship"]) <= day < world.day(e["home"])
                for e in world.loans
            )

        first = world.first_day(r, c)
        for ship in range(first, world.last + 1):
            if world.cost(r, c, ship) >= world.penalty(r):
                break
            free = all(
                world.day(e["home"]) <= ship or ship + span <= world.day(e["ship"])
                for e in world.loans
                if e["copy"] == cid
            )
            if free:  # then some day of the loan would leave no other copy on the shelf
                assert any(
                    not any(on_shelf(o, day) for o in others) for day in range(ship, ship + span)
                )


def check_dearness(world: World, r: dict[str, Any], detail: str) -> None:
    """The claims that every loan of a title costs the penalty, and of lenders at their cap."""
    for match in EARLIEST.finditer(detail):
        title, arrive, early, _lib, late, needed, cheap, _lender, cost, penalty = match.groups()
        options = world.candidates(r, title)
        arrivals = [
            world.first_day(r, c) + world.routes[(c["library"], r["library"])][0] for c in options
        ]
        assert world.day(arrive) == min(arrivals)
        c = world.copies[early]
        assert world.first_day(r, c) + world.routes[(c["library"], r["library"])][0] == min(
            arrivals
        )
        assert int(late) == min(arrivals) - world.day(needed) > 0
        assert needed == r["needed_by"]
        cheapest = min(world.cost(r, c, world.first_day(r, c)) for c in options)
        assert float(cost) == pytest.approx(cheapest)
        assert world.cost(r, world.copies[cheap], world.first_day(r, world.copies[cheap])) == (
            pytest.approx(cheapest)
        )
        assert float(penalty) == world.penalty(r) <= cheapest + 1e-9
    for match in CHEAPEST.finditer(detail):
        title, cheap, _lender, cost, penalty = match.groups()
        options = world.candidates(r, title)
        cheapest = min(world.cost(r, c, world.first_day(r, c)) for c in options)
        assert float(cost) == pytest.approx(cheapest)
        assert float(penalty) == world.penalty(r) <= cheapest + 1e-9
    for match in AT_CAP.finditer(detail):
        _cid, library, cap = match.groups()
        lent = sum(1 for e in world.loans if e["lender"] == library)
        (lib,) = [x for x in world.doc["libraries"] if x["id"] == library]
        assert lib.get("max_outgoing") == int(cap) == lent


def test_every_claim_of_every_explanation_is_true() -> None:
    kinds = dict.fromkeys(("busy", "given", "until", "dear", "cap", "open", "balance", "shelf"), 0)
    for seed in range(40):
        if seed % 4 == 3:  # several copies a title, and a penalty often below every loan
            doc = random_document(seed, libraries=5, titles=2, copies=8, requests=10, days=15)
            doc["penalties"] = {"unfilled": 12.0, "late_per_day": 4.0}
        else:
            doc = random_document(seed, libraries=4, titles=3, copies=5, requests=10, days=15)
        for solver in ("auto", "rota"):
            solution = run(doc, solver=solver)
            assert solution.verification.valid
            world = World(doc, solution.solution)
            for why in solution.explanations:
                r = world.requests[why.subject]
                if why.code == "not_chosen":
                    check_open_copy(world, r, why.detail)
                    kinds["open"] += 1
                    continue
                for title in r["titles"]:
                    assert title in why.detail
                check_copy_clauses(world, r, why.detail)
                check_dearness(world, r, why.detail)
                check_policies(world, r, why.detail)
                kinds["busy"] += len(BUSY.findall(why.detail))
                kinds["given"] += len(GIVEN.findall(why.detail))
                kinds["until"] += why.detail.count("; shipped after")
                kinds["dear"] += len(EARLIEST.findall(why.detail))
                kinds["dear"] += len(CHEAPEST.findall(why.detail))
                kinds["cap"] += len(AT_CAP.findall(why.detail))
                kinds["balance"] += len(OVER_BALANCE.findall(why.detail))
                kinds["shelf"] += len(LAST_ON_SHELF.findall(why.detail))
    # The random instances reach every kind of claim: the checks above read something.
    assert all(kinds.values()), kinds
