"""Compensation between libraries: who owes whom for the plan's net loans (contract 7.8).

The settlement prices what the plan already is; it changes no loan and no objective term,
since every transfer leaves the consortium's total where it was.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from optimizer.loans.schema import LoansInstance

# Exhaustive search for the best split into zero-sum groups covers up to 2**16 subsets,
# about a tenth of a second; past that the remainder is settled greedily.
EXACT_UP_TO = 16


def settlement(instance: LoansInstance, payload: dict[str, Any]) -> dict[str, Any]:
    """Each library's loans lent, received, net and amount at ``policies.balance_price``, and
    the fewest transfers from net borrowers to net lenders that settle them."""
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
    moves, fewest = fewest_transfers(nets)
    return {
        "price": price,
        "libraries": rows,
        "transfers": [
            {"from": payer, "to": payee, "loans": loans, "amount": price * loans}
            for payer, payee, loans in moves
        ],
        "fewest_transfers": fewest,
    }


def fewest_transfers(nets: dict[str, int]) -> tuple[list[tuple[str, str, int]], bool]:
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
    proven = len(rest) <= EXACT_UP_TO
    groups += _best_split(rest, owing) if proven else ([rest] if rest else [])
    moves = [move for group in groups for move in _settle_group(group, owing)]
    moves.sort()
    return moves, proven


def _best_split(libs: list[str], nets: dict[str, int]) -> list[list[str]]:
    """The most groups with nets summing to zero that ``libs`` split into (their nets sum to
    zero): by dynamic programming over subsets, then read back along the choices made."""
    n = len(libs)
    if n == 0:
        return []
    full = (1 << n) - 1
    total = [0] * (full + 1)
    for mask in range(1, full + 1):
        low = mask & -mask
        total[mask] = total[mask ^ low] + nets[libs[low.bit_length() - 1]]
    # most[mask]: most zero-sum groups of an order in which mask's members can be listed
    # so that each group is a run ending where the running sum returns to zero.
    most = [0] * (full + 1)
    drop = [0] * (full + 1)  # the member whose removal gives most[mask]
    for mask in range(1, full + 1):
        best, best_bit, rest = -1, 0, mask
        while rest:
            bit = rest & -rest
            rest ^= bit
            if most[mask ^ bit] > best:
                best, best_bit = most[mask ^ bit], bit
        most[mask] = best + (total[mask] == 0)
        drop[mask] = best_bit
    groups: list[list[str]] = []
    current: list[str] = []
    mask = full
    while mask:
        # Reading backwards, a group starts where the remaining prefix sums to zero.
        bit = drop[mask]
        current.append(libs[bit.bit_length() - 1])
        mask ^= bit
        if total[mask] == 0:
            groups.append(sorted(current))
            current = []
    return groups


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
