"""Independent check of a loans solution's ``settlement`` (contract 7.8).

Part of the verifier: written from the contract alone, it recounts each library's loans from
the plan and computes the fewest transfers its own way, without importing ``settlement``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from optimizer.loans.schema import LoansInstance

# The contract's bound on the libraries left after pairing for which fewest_transfers may be
# claimed; up to SUBSET_TABLE_UP_TO of them, every subset is tabled (2**16 at most).
EXACT_UP_TO = 24
SUBSET_TABLE_UP_TO = 16


def _close(value: Any, expected: float) -> bool:
    # "not <=" style, so that NaN and non-numbers fail.
    return isinstance(value, int | float) and abs(value - expected) <= 1e-6 * max(
        1.0, abs(expected)
    )


def settlement_violations(
    instance: LoansInstance,
    solution: dict[str, Any],
    lent: dict[str, int],
    received: dict[str, int],
) -> list[str]:
    """Hard: with balance_price, the settlement matches the plan's loans, its transfers go
    from net borrowers to net lenders and settle every net, in at most N - 1 transfers, and
    in the fewest when it says so; without balance_price, there is no settlement."""
    price = instance.policies.balance_price
    given = solution.get("settlement")
    out: list[str] = []
    if price is None:
        if given is not None:
            out.append("the solution has a settlement but balance_price is not set")
    elif not isinstance(given, dict):
        out.append("balance_price is set but the solution has no settlement")
    else:
        try:
            out += _check(instance, given, price, lent, received)
        except (KeyError, TypeError, AttributeError) as exc:
            out.append(f"the settlement is malformed: {type(exc).__name__} {exc}")
    return out


def _check(
    instance: LoansInstance,
    given: dict[str, Any],
    price: float,
    lent: dict[str, int],
    received: dict[str, int],
) -> list[str]:
    out: list[str] = []
    if not _close(given["price"], price):
        out.append(f"settlement price {given['price']}, not balance_price {price}")
    net = {x.id: lent.get(x.id, 0) - received.get(x.id, 0) for x in instance.libraries}
    listed = [row["library"] for row in given["libraries"]]
    if listed != list(net):
        out.append(f"settlement lists libraries {listed}, not {list(net)} in that order")
    for row in given["libraries"]:
        lib = row["library"]
        if lib not in net:
            continue
        expected = {
            "lent": lent.get(lib, 0),
            "received": received.get(lib, 0),
            "net": net[lib],
        }
        for field, value in expected.items():
            if row[field] != value or isinstance(row[field], bool):
                out.append(f"settlement row of {lib} reports {field} {row[field]}, not {value}")
        if not _close(row["amount"], price * net[lib]):
            out.append(
                f"settlement row of {lib} reports amount {row['amount']}, not {price * net[lib]}"
            )

    settled: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    transfers = given["transfers"]
    for k, t in enumerate(transfers):
        payer, payee, loans = t["from"], t["to"], t["loans"]
        where = f"transfer {k} from {payer} to {payee}"
        if net.get(payer, 0) >= 0:
            out.append(f"{where}: {payer} is not a net borrower")
        if net.get(payee, 0) <= 0:
            out.append(f"{where}: {payee} is not a net lender")
        if not isinstance(loans, int) or isinstance(loans, bool) or loans <= 0:
            out.append(f"{where} moves {loans} loans, not a whole number above 0")
            continue
        if not _close(t["amount"], price * loans):
            out.append(f"{where} reports amount {t['amount']}, not {price * loans}")
        pairs[(payer, payee)] += 1
        settled[payer] -= loans
        settled[payee] += loans
    for (payer, payee), times in sorted(pairs.items()):
        if times > 1:
            out.append(f"transfers from {payer} to {payee} appear {times} times")
    for lib, value in net.items():
        if settled[lib] != value:
            out.append(f"the transfers settle {settled[lib]} of {lib}'s net {value}")

    owing = sorted(v for v in net.values() if v != 0)
    if len(transfers) > max(0, len(owing) - 1):
        out.append(
            f"the settlement uses {len(transfers)} transfers; {len(owing)} libraries with a "
            f"net settle in at most {max(0, len(owing) - 1)}"
        )
    if given["fewest_transfers"] is True:
        groups = _most_zero_sum_groups(owing)
        if groups is None:
            out.append(
                "the settlement claims the fewest transfers, which the contract proves only "
                f"for at most {EXACT_UP_TO} libraries left after pairing"
            )
        elif len(transfers) != len(owing) - groups:
            out.append(
                f"the settlement claims the fewest transfers with {len(transfers)}, but "
                f"{len(owing) - groups} suffice"
            )
    return out


def _most_zero_sum_groups(values: list[int]) -> int | None:
    """The most groups with sums of zero that ``values`` (summing to zero) split into; None
    when more than EXACT_UP_TO values are left after taking out pairs x, -x."""
    left = Counter(values)
    pairs = 0
    for v in list(left):
        if v > 0:
            matched = min(left[v], left[-v])
            pairs += matched
            left[v] -= matched
            left[-v] -= matched
    rest = sorted(left.elements())
    if len(rest) > EXACT_UP_TO:
        return None
    if len(rest) > SUBSET_TABLE_UP_TO:
        return pairs + _groups_by_search(rest)
    if not rest:
        return pairs
    # best[m]: the most zero-sum groups into which the members of subset m can be chained,
    # adding one member at a time; a group closes whenever the subset's sum is zero.
    size = 1 << len(rest)
    sums = [0] * size
    best = [0] * size
    for m in range(1, size):
        top = 1 << (m.bit_length() - 1)
        sums[m] = sums[m ^ top] + rest[top.bit_length() - 1]
        most, bits = 0, m
        while bits:
            top = 1 << (bits.bit_length() - 1)
            bits ^= top
            most = max(most, best[m ^ top])
        best[m] = most + (sums[m] == 0)
    return pairs + best[size - 1]


def _groups_by_search(values: list[int]) -> int:
    """The most zero-sum groups of ``values`` (summing to zero, no two cancelling, so every
    group has three members or more), taking for the last value left each inclusion-minimal
    zero-sum set that holds it."""
    n = len(values)
    known: dict[int, int] = {}

    def half_sums(indices: list[int]) -> dict[int, list[int]]:
        table: dict[int, list[int]] = {0: [0]}
        for k in indices:
            # From a copy of the table so far: sets gaining k must not gain it twice.
            before = [(total, list(masks)) for total, masks in table.items()]
            for total, masks in before:
                table.setdefault(total + values[k], []).extend(m | 1 << k for m in masks)
        return table

    def most(mask: int) -> int:
        if mask == 0:
            return 0
        if mask in known:
            return known[mask]
        last = mask.bit_length() - 1
        others = [k for k in range(last) if mask >> k & 1]
        low, high = half_sums(others[: len(others) // 2]), half_sums(others[len(others) // 2 :])
        need = -values[last]
        sets = sorted(
            (
                a | b
                for total, masks in low.items()
                for a in masks
                for b in high.get(need - total, [])
            ),
            key=lambda m: bin(m).count("1"),
        )
        answer = 1
        minimal: list[int] = []
        for s in sets:
            if s == 0 or any(m & s == m for m in minimal):
                continue
            minimal.append(s)
            rest = mask & ~(s | 1 << last)
            if 1 + bin(rest).count("1") // 3 > answer:
                answer = max(answer, 1 + most(rest))
        known[mask] = answer
        return answer

    return most((1 << n) - 1)
