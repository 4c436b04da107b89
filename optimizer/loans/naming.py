"""Which copy of a pool serves each chosen loan: the model counts a pool's copies together,
and the plan names them afterwards."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from optimizer.loans.schema import Copy, LoansInstance


def name_copies(
    instance: LoansInstance,
    copies: list[Copy],
    spans: list[tuple[int, int, int]],
    wanted: dict[int, Copy],
) -> dict[int, Copy]:
    """A copy for each loan (ship day, var, busy days) of one pool, in ship-day order.

    Each loan takes a copy already free on its day, which the pool rows guarantee exists
    whatever was chosen before. Without ``wanted`` it is the first in list order. A loan of
    ``wanted`` (keeping a previous loan) takes its previous copy when free; the others
    avoid the copies wanted over their days, taking the one wanted again soonest after
    them (so the copies free longest stay for long loans), and only when every free copy
    is wanted give one up, the one wanted latest. The pool counts do not see copies, so
    that can happen: the kept loan then takes another copy and counts as moved."""
    free_at = {c.id: instance.release_day(c) for c in copies}
    held: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for day, v, busy in spans:
        if v in wanted:
            held[wanted[v].id].append((day, day + busy, v))
    given_up: set[int] = set()
    never = np.iinfo(np.int64).max

    def claims(c: Copy, v: int, day: int, end: int) -> list[tuple[int, int, int]]:
        return [h for h in held[c.id] if h[2] != v and h[2] not in given_up and h[1] > day]

    named: dict[int, Copy] = {}
    for day, v, busy in spans:
        end = day + busy
        free = [c for c in copies if free_at[c.id] <= day]
        if not free:  # the pool rows make this impossible; say so loudly if not
            raise RuntimeError(f"no free copy of {copies[0].title} at {copies[0].library}")
        mine = wanted.get(v)
        if mine is not None and v not in given_up and free_at[mine.id] <= day:
            copy = mine
        else:
            later = {c.id: claims(c, v, day, end) for c in free}
            clean = [c for c in free if all(s >= end for s, _, _ in later[c.id])]
            if clean:
                copy = min(clean, key=lambda c: min((s for s, _, _ in later[c.id]), default=never))
            else:
                copy = max(free, key=lambda c: min(s for s, _, _ in later[c.id]))
                given_up.update(u for s, _, u in later[copy.id] if s < end)
        free_at[copy.id] = end
        named[v] = copy
    return named
