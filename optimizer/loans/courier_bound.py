"""A lower bound for the courier model by Lagrangian relaxation, for models too large for
the MIP in the time.

The rows "a request's candidates on a run sum to at most the run's y" are priced with
multipliers μ ≥ 0 (a share of the run's cost charged to each request that could ride it),
and the shelf rows "a pool's loans out on a day are at most its copies there" with
multipliers π ≥ 0 (a rent on the copy for each day it is away, less π times the copies on
the shelf); the ``max_outgoing``, ``max_imbalance`` and capacity rows are dropped. What is
left splits: each request takes its cheapest candidate at its charged shares and rents, or
none; each run is opened when its shares exceed its cost. Every μ and π give a valid bound
(dropping rows and pricing others only lowers the optimum); subgradient steps towards the
plan's objective raise it. At the best μ and π it equals the LP bound of the same rows.

Without the shelf rows every request may take the same scarce copy, and the bound counts
none of the requests left unfilled for want of one (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import time

import numpy as np

from optimizer.loans.courier_model import CourierCandidates, shelf_rows

# Step scale of the subgradient (Polyak's rule), halved after this many steps without a
# better bound. On the 800-request benchmark instance (51,034 candidates) 15 stopped at
# 34,365 in 7 s, 50 reached 35,983 in 9 s, 100 and 200 only 36,047 and 36,119 in 17 and
# 28 s (see benchmarks/RESULTS.md).
FIRST_STEP = 1.0
PATIENCE = 50


def lagrangian_bound(
    cands: CourierCandidates, target: float, deadline: float, *, max_steps: int = 100_000
) -> float:
    """The best bound found before ``deadline`` (a ``time.perf_counter`` value), steering
    towards ``target`` (a plan's objective)."""
    n = len(cands)
    pen = cands.penalties()
    offset = float(pen.sum()) + cands.change_constant
    if n == 0:
        return offset
    request = np.array(cands.request, dtype=np.int64)
    if np.any(np.diff(request) < 0):
        raise ValueError("candidates must come in request order")
    cost = np.array(cands.cost, dtype=float) - pen[request]
    couriers = cands.instance.couriers
    run_cost = np.array([couriers[k].cost_per_run for k, _ in cands.runs], dtype=float)
    out_run = np.array(cands.out_run, dtype=np.int64)
    back_run = np.array(cands.back_run, dtype=np.int64)
    # One multiplier per (request, run) that the request could ride.
    keys = np.concatenate([request * len(run_cost) + out_run, request * len(run_cost) + back_run])
    links, inverse = np.unique(keys, return_inverse=True)
    link_out, link_back = inverse[:n], inverse[n:]
    link_run = links % len(run_cost)
    riders = np.bincount(link_run, minlength=len(run_cost))
    # Start from each run's cost shared equally by the requests that could ride it.
    mu = run_cost[link_run] / riders[link_run]
    shelf, copies = shelf_rows(cands)
    rent_of = shelf.T.tocsr()  # the rents each candidate pays, once per step
    rent = np.zeros(len(copies))
    starts = np.flatnonzero(np.r_[True, np.diff(request) != 0])
    best = -np.inf
    step, stale = FIRST_STEP, 0
    for _ in range(max_steps):
        reduced = cost + mu[link_out] + mu[link_back] + rent_of @ rent
        cheapest = np.minimum.reduceat(reduced, starts)
        per_request = np.minimum(cheapest, 0.0)
        open_gain = run_cost - np.bincount(link_run, weights=mu, minlength=len(run_cost))
        value = offset + float(per_request.sum()) + float(np.minimum(open_gain, 0.0).sum())
        value -= float(rent @ copies)
        if value > best + 1e-9:
            best, stale = value, 0
        else:
            stale += 1
            if stale >= PATIENCE:
                step, stale = step / 2, 0
        if time.perf_counter() > deadline or step < 1e-4 or best >= target - 1e-9:
            break
        # The chosen candidate of each request that takes one (the first on ties).
        segment_min = np.repeat(cheapest, np.diff(np.r_[starts, n]))
        hit = np.flatnonzero((reduced <= segment_min) & (segment_min < 0))
        _, first = np.unique(request[hit], return_index=True)
        chosen = hit[first]
        rides = np.bincount(link_out[chosen], minlength=len(links)) + np.bincount(
            link_back[chosen], minlength=len(links)
        )
        opened = (open_gain < 0).astype(float)
        grad = rides - opened[link_run]
        taken = np.zeros(n)
        taken[chosen] = 1.0
        out_of_shelf = shelf @ taken - copies
        # A multiplier at 0 that its row would push below 0 stays there: leave it out of the
        # step's length, so that the others move as far as they should.
        grad[(mu <= 0) & (grad < 0)] = 0.0
        out_of_shelf[(rent <= 0) & (out_of_shelf < 0)] = 0.0
        norm = float(grad @ grad) + float(out_of_shelf @ out_of_shelf)
        if norm == 0:
            break
        scale = step * (target - value) / norm
        mu = np.maximum(0.0, mu + scale * grad)
        rent = np.maximum(0.0, rent + scale * out_of_shelf)
    return best
