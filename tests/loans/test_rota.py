"""The rota baseline looks at pools, not copies; it must pick exactly what a scan of every
copy in list order picks (the plain reading of the ranked-lender rule, kept here)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from optimizer.loans import LoansInstance
from optimizer.loans.candidates import loan_entry
from optimizer.loans.rota import Ledger, earliest_ship, solve_rota
from optimizer.loans.schema import Copy

from .helpers import random_document


def every_copy_rota(instance: LoansInstance) -> dict[str, Any]:
    """Requests in list order; each scans every copy of its titles in list order and takes
    the best rank (arrival, cost, lender's loans so far, lender), the first on ties."""
    routes = instance.routes()
    last = instance.last_day
    ledger = Ledger(instance)
    by_title: dict[str, list[Copy]] = defaultdict(list)
    for c in instance.copies:
        if c.lendable:
            by_title[c.title].append(c)
    loans, unfilled = [], []
    for q, r in enumerate(instance.requests):
        best: tuple[Any, ...] | None = None
        for title in dict.fromkeys(r.titles):
            for c in by_title.get(title, []):
                there, back = routes.get((c.library, r.library)), routes.get((r.library, c.library))
                if c.library == r.library or there is None or back is None:
                    continue
                if not ledger.counts_ok(c.library, r.library):
                    continue
                busy = there.days + r.loan_days + back.days
                first = max(instance.open_day(r), instance.release_day(c))
                day = earliest_ship(ledger, c, first, last, busy)
                if day is None:
                    continue
                rank = (day + there.days, there.cost, ledger.lent[c.library], c.library)
                if best is None or rank < best[0]:
                    best = (rank, c, day, there, back, busy)
        if best is None:
            unfilled.append(r.id)
            continue
        _, c, day, there, back, busy = best
        ledger.place(c, r.library, day, day + busy)
        loans.append(loan_entry(instance, q, c, day, there.days, back.days, there.cost))
    loans.sort(key=lambda e: (e["ship"], e["lender"], e["request"]))
    return {"loans": loans, "unfilled": unfilled}


@pytest.mark.parametrize("policies", [False, True])
def test_pooled_rota_matches_the_scan_of_every_copy(policies: bool) -> None:
    for seed in range(60):
        doc = random_document(
            seed, libraries=4, titles=3, copies=14, requests=14, days=16, policies=policies
        )
        instance = LoansInstance.model_validate(doc)
        assert solve_rota(instance) == every_copy_rota(instance), seed
