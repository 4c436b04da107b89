"""Compensation between libraries: who owes whom for the plan's net loans (contract 7.8).

The settlement prices what the plan already is; it changes no loan and no objective term,
since every transfer leaves the consortium's total where it was.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from optimizer.loans.schema import LoansInstance

# The exact search for the best split into zero-sum groups took at most 0.42 s on up to 24
# libraries left after pairing, on plans and on random nets (benchmarks/RESULTS.md, "Loans
# compensation"); past 24 or past the budget, the rest is settled greedily and the count is
# not claimed fewest.
EXACT_UP_TO = 24
SEARCH_BUDGET_S = 2.0


def settlement(
    instance: LoansInstance, payload: dict[str, Any], *, budget_s: float = SEARCH_BUDGET_S
) -> dict[str, Any]:
    """Each library's loans lent, received, net and amount at ``policies.balance_price``, and
    the fewest transfers from net borrowers to net lenders that settle them (searched for at
    most ``budget_s`` seconds)."""
    price = instance.policies.balance_price
    assert price is not None, "a settlement needs policies.balance_price"
    borrower_of = {r.id: r.library for r in instance.requests}
    lent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    for loan in payload.get("loans", []):
        lent[loan["lender"]] += 1
        received[borrower_of[loan["request"]]] += 1
    rows = []
    nets: dict[str, int] = {}
    for library in instance.libraries:
        net = lent[library.id] - received[library.id]
        nets[library.id] = net
        rows.append(
            {
                "library": library.id,
                "lent": lent[library.id],
                "received": received[library.id],
                "net": net,
                "amount": price * net,
            }
        )
    moves, fewest = fewest_transfers(nets, budget_s=budget_s)
    return {
        "price": price,
        "libraries": rows,
        "transfers": [
            {"from": payer, "to": payee, "loans": loans, "amount": price * loans}
            for payer, payee, loans in moves
        ],
        "fewest_transfers": fewest,
    }


def fewest_transfers(
    nets: dict[str, int], *, budget_s: float = SEARCH_BUDGET_S
) -> tuple[list[tuple[str, str, int]], bool]:
    """(payer, payee, loans) moves settling ``nets`` (summing to zero), and whether their
    number is proven the fewest: one less than the size of each group of a best split of
    the non-zero nets into zero-sum groups."""
    owing = {lib: net for lib, net in sorted(nets.items()) if net != 0}
    groups: list[list[str]] = []
    # Exact opposites form a group of their own in some best split.
    by_value: dict[int, list[str]] = {}
    for lib, net in owing.items():
        by_value.setdefault(net, []).append(lib)
    paired: set[str] = set()
    for value in sorted(v for v in by_value if v > 0):
        for creditor, debtor in zip(by_value[value], by_value.get(-value, []), strict=False):
            groups.append([debtor, creditor])
            paired.update((debtor, creditor))
    rest = [lib for lib in owing if lib not in paired]
    split = None
    if len(rest) <= EXACT_UP_TO:
        split = _best_split(rest, owing, time.perf_counter() + budget_s)
    groups += split if split is not None else ([rest] if rest else [])
    moves = [move for group in groups for move in _settle_group(group, owing)]
    moves.sort()
    return moves, split is not None


def _best_split(libs: list[str], nets: dict[str, int], deadline: float) -> list[list[str]] | None:
    """The most groups with nets summing to zero that ``libs`` split into (their nets sum to
    zero, no two cancel), or None past ``deadline``.

    The group of the first library left is one of the smallest zero-sum sets holding it (a
    larger one splits into a smaller one and a zero-sum rest, losing nothing); with no two
    nets cancelling, every group has at least three members, which bounds what is left.
    """
    values = [nets[lib] for lib in libs]
    best: dict[int, tuple[int, int]] = {0: (0, 0)}  # mask -> (groups, first group's mask)

    def search(mask: int) -> int:
        if mask in best:
            return best[mask][0]
        if time.perf_counter() > deadline:
            raise TimeoutError
        first = mask & -mask
        head = first.bit_length() - 1
        choice, most = mask, 1  # the whole set is one zero-sum group
        for group in _smallest_zero_sum_sets(values, mask ^ first, -values[head]):
            left = mask & ~(group | first)
            if 1 + left.bit_count() // 3 <= most:
                continue
            groups = 1 + search(left)
            if groups > most:
                choice, most = group | first, groups
        best[mask] = (most, choice)
        return most

    try:
        search((1 << len(libs)) - 1)
    except TimeoutError:
        return None
    split, mask = [], (1 << len(libs)) - 1
    while mask:
        group = best[mask][1]
        split.append([lib for k, lib in enumerate(libs) if group >> k & 1])
        mask &= ~group
    return split


def _smallest_zero_sum_sets(values: list[int], among: int, target: int) -> list[int]:
    """The subsets of ``among`` (a bit mask) whose values sum to ``target`` and hold no
    smaller such subset, by meeting two halves' subset sums in the middle."""
    members = [k for k in range(len(values)) if among >> k & 1]
    half = len(members) // 2

    def sums(part: list[int]) -> list[tuple[int, int]]:
        out = [(0, 0)]
        for k in part:
            out += [(total + values[k], mask | 1 << k) for total, mask in out]
        return out

    right: dict[int, list[int]] = {}
    for total, mask in sums(members[half:]):
        right.setdefault(total, []).append(mask)
    found = sorted(
        (
            left | other
            for total, left in sums(members[:half])
            for other in right.get(target - total, ())
        ),
        key=int.bit_count,
    )
    smallest: list[int] = []
    for mask in found:
        if mask and not any(inner & mask == inner for inner in smallest):
            smallest.append(mask)
    return smallest


def _settle_group(group: list[str], nets: dict[str, int]) -> list[tuple[str, str, int]]:
    """Settle a zero-sum group: the largest debt pays the largest credit, which clears at
    least one of the two, so the group needs at most one transfer fewer than members."""
    debts = {lib: -nets[lib] for lib in group if nets[lib] < 0}
    credits = {lib: nets[lib] for lib in group if nets[lib] > 0}
    moves = []
    while debts and credits:
        payer = max(debts, key=lambda lib: (debts[lib], lib))
        payee = max(credits, key=lambda lib: (credits[lib], lib))
        loans = min(debts[payer], credits[payee])
        moves.append((payer, payee, loans))
        for side, lib in ((debts, payer), (credits, payee)):
            side[lib] -= loans
            if side[lib] == 0:
                del side[lib]
    return moves
