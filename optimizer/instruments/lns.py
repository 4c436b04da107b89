"""Large-neighbourhood search for large weeks: free a slice, fix the rest, re-solve, repeat.

CP-SAT's own LNS on the full model copies and presolves the whole week for every
neighbourhood, so on a 1,000-request week it tries only a handful in a minute (measured on the
benchmark weeks; see ``benchmarks/RESULTS.md``). Here each neighbourhood is a model of its own: the requests booked on one instrument type inside a
window of days, plus a sample of the unserved requests that could use it, over a timeline
from which every fixed booking has been cut out (with its changeover on either side, and
its operator's time). Fixed bookings stay exactly as they are, so every accepted schedule
satisfies all the rules; the full schedule is still checked by ``verify.py`` afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any

from optimizer.core.cpsat import run_cpsat
from optimizer.core.envelope import Status
from optimizer.core.runner import SolveContext
from optimizer.core.scaling import IntegerScale
from optimizer.instruments import fairshare
from optimizer.instruments.formulation import ScheduleModel
from optimizer.instruments.replan import Replan
from optimizer.instruments.timeline import DAY, Placed, Timeline, sub_timeline
from optimizer.instruments.warmstart import hint

log = logging.getLogger(__name__)

# Requests freed per neighbourhood, the CP-SAT seconds each may take, and how often it is
# a whole day across every type: the best of the settings measured on the 1,000-request
# benchmark weeks (see benchmarks/RESULTS.md). One second rather than two: with narrowing,
# more neighbourhoods in the minute raised every facility week (seed 3 from 1746 to
# 1753, means of repeated runs) and left the plain weeks higher or within their spread.
SIZE = 60
STEP_SECONDS = 1.0
MIXED = 0.75
# A neighbourhood whose time runs out before its optimum narrows the next, down to this
# many requests: on the facility weeks, where operators tie the instruments together, most
# of 60 ran out of time (23 neighbourhoods in 40 s). Seed 3 went from a mean of 1738 to
# 1746 at 60 s, within the spread of repeated runs; the other weeks stayed where they were
# (see benchmarks/RESULTS.md).
MIN_SIZE = 20
# Requests a neighbourhood widens or narrows by, and the most it frees.
SIZE_STEP = 10
MAX_SIZE = 200
# How often, where some instrument has operators, a neighbourhood is one crew's instruments
# instead (MIXED then applies to the rest), and over how many days (drawn from these): 0.5
# beat 0, 0.3 and 0.7, and one or two days one day alone, on the 1,000-request facility
# week (see benchmarks/RESULTS.md, section (b')).
CREW = 0.5
CREW_DAYS = (1, 2)
# A neighbourhood takes in unserved requests by the capacity LP's share of them, most first,
# and frees booked ones by that share, least first, each share with up to this much noise
# added: ties (most shares are 0 or 1) are broken at random. Ranking by the LP beat random
# order and weight per minute, and 0.25 the other noises, on the 1,000-request benchmark
# weeks (see benchmarks/RESULTS.md).
PROMISE_NOISE = 0.25


def _neighbourhood(
    tl: Timeline,
    rng: random.Random,
    placed: list[Placed],
    served: set[int],
    size: int,
    promise: list[float] | None = None,
) -> list[int]:
    """Requests booked within a window, and unserved ones that could go there.

    The window is one or two days on the instruments of one crew (the operators of one
    staffed instrument, and every instrument they serve: their time moves between those
    instruments), one day across every type (operators are shared between the staffed
    types, so their shifts only move when those types move together), or one to three days
    on a single type. Booked requests are taken least promising first and unserved ones
    most promising first (``promise``, with some noise so that neighbourhoods differ), or
    both in random order.
    """
    types = sorted(set(tl.instrument_type))
    days = max(1, tl.horizon // DAY)
    staffed = [i for i in range(len(tl.instrument_ids)) if tl.operators_for(i)]
    if staffed and CREW > 0 and rng.random() < CREW:
        instruments = _crew(tl, rng.choice(staffed))
        width = rng.choice(CREW_DAYS)
    elif rng.random() < MIXED:  # every type over one day: operators move between instruments
        instruments = set(range(len(tl.instrument_ids)))
        width = 1
    else:
        kind = rng.choice(types)
        instruments = {i for i, t in enumerate(tl.instrument_type) if t == kind}
        width = rng.choice([1, 2, 2, 3])
    first = rng.randrange(max(1, days - width + 1))
    a, b = first * DAY, (first + width) * DAY
    booked = sorted({p.request for p in placed if p.instrument in instruments and a <= p.start < b})
    waiting = [
        r
        for r, req in enumerate(tl.requests)
        if r not in served
        and req.release < b
        and req.deadline > a
        and any(any(i in instruments for i in s.instruments) for s in req.steps)
    ]
    if promise is None:
        rng.shuffle(booked)
        rng.shuffle(waiting)
    else:  # free the bookings the LP would keep least, fill with those it would serve most
        booked.sort(key=lambda r: promise[r] + PROMISE_NOISE * rng.random())
        waiting.sort(key=lambda r: -(promise[r] + PROMISE_NOISE * rng.random()))
    half = size // 2
    chosen = booked[: max(half, size - len(waiting))]
    chosen += waiting[: size - len(chosen)]
    return chosen


def _crew(tl: Timeline, instrument: int) -> set[int]:
    """The instruments the operators of ``instrument`` serve: where its sessions, and the
    others those operators staff, can trade places."""
    return {i for o in tl.operators_for(instrument) for i in tl.qualified[o]} | {instrument}


def improve(
    tl: Timeline,
    placed: list[Placed],
    served: list[int],
    context: SolveContext,
    *,
    time_left: Callable[[], float],
    scaling: IntegerScale,
    on_improve: Callable[[float], None] | None = None,
    bound: float | None = None,
    promise: list[float] | None = None,
    replan: Replan | None = None,
) -> tuple[list[Placed], list[int], int]:
    """Improve (placed, served) until ``time_left()`` runs out or the context is asked to
    stop; returns them and the neighbourhoods tried.

    Each neighbourhood is one :func:`~optimizer.core.cpsat.run_cpsat` run on the context's
    threads, with a seed drawn from ``options.seed``, reporting nothing itself: the whole
    schedule's value goes to ``on_improve``. ``promise`` ranks the requests a neighbourhood
    frees and takes in (see :func:`_neighbourhood`): the capacity LP's share of each
    request serves well. With ``replan`` each kept previous booking adds the penalty to the
    value (``scaling`` must make the penalty whole too, and ``bound`` count it). With a
    fair-share penalty each neighbourhood counts the whole week's shortfall (``scaling``
    must make the penalty per hundredth of a minute whole too).
    """
    rng = random.Random(context.options.seed)
    weight: list[int] = scaling.scaled([r.weight for r in tl.requests]).tolist()
    scale = scaling.scale
    bonus = 0 if replan is None else int(scaling.scaled([replan.penalty])[0])
    slots = [] if replan is None else replan.slots
    # Fair share (contract 6.8): each hundredth of a shortfall minute costs ``unit``.
    per_unit = fairshare.penalty_per_unit(tl)
    unit = int(scaling.scaled([per_unit])[0]) if per_unit else 0
    value = sum(weight[r] for r in served) + bonus * _kept(slots, placed)
    value -= unit * fairshare.plan_units(tl, placed) if unit else 0
    placed = list(placed)
    served_set = set(served)
    size = SIZE
    tries = 0
    while time_left() > 0.5 and not context.stop.is_set():
        if bound is not None and value >= bound * scale - 1e-9:
            break
        tries += 1
        free = _neighbourhood(tl, rng, placed, served_set, size, promise)
        if not free:
            continue
        free_set = set(free)
        fixed = [p for p in placed if p.request not in free_set]
        sub = sub_timeline(tl, free, fixed)
        index = {r: k for k, r in enumerate(free)}
        local = None
        if replan is not None:
            mine = [
                dataclasses.replace(q, request=index[q.request])
                for q in slots
                if q.request in free_set
            ]
            local = Replan(replan.penalty, len(mine), mine)
        sm = ScheduleModel(sub, energy=False, replan=local)
        m = sm.model
        mine_placed = [p for p in placed if p.request in free_set]
        base = sum(weight[r] for r in free if r in served_set)
        base += bonus * _kept([q for q in slots if q.request in free_set], mine_placed)
        worth = sum(weight[r] * sm.served[k] for k, r in enumerate(free))
        worth += sum(bonus * lit for _, lit in sm.keep)
        if unit:  # the shortfalls of the whole week, the kept bookings as constants
            base -= unit * fairshare.plan_units(tl, placed)
            kept = fairshare.booked_minutes(tl, fixed)
            sm.shortfalls = fairshare.shortfall_vars(m, sub, sm.steps, kept)
            worth -= unit * sum(s.var for s in sm.shortfalls)
        m.maximize(worth)
        m.add(worth >= base)
        hint(
            sm,
            [
                dataclasses.replace(p, request=index[p.request])
                for p in placed
                if p.request in free_set
            ],
            [index[r] for r in free if r in served_set],
        )
        run = run_cpsat(
            m,
            context,
            time_limit=max(0.05, min(STEP_SECONDS, time_left() - 0.3)),
            seed=rng.randrange(2**31),
            tune=_exact,
            report=False,
        )
        if run.status != Status.OPTIMAL:
            size = max(MIN_SIZE, size - SIZE_STEP)  # its time ran out first: narrow the next
        if not run.has_solution or run.objective_scaled is None:
            continue
        new = round(run.objective_scaled)
        if run.status == Status.OPTIMAL and new == base:
            size = min(MAX_SIZE, size + SIZE_STEP)  # the slice was already optimal: widen it
        if new < base:
            continue
        got = sm.read(run.solver)
        placed = fixed + [dataclasses.replace(p, request=free[p.request]) for p in got]
        served_set = (served_set - free_set) | {
            free[k] for k in range(len(free)) if run.solver.boolean_value(sm.served[k])
        }
        if new > base:
            value += new - base
            log.debug("lns %d: %s (+%s)", tries, value / scale, (new - base) / scale)
            if on_improve is not None:
                on_improve(value / scale)
    return placed, sorted(served_set), tries


def _kept(slots: list[Placed], placed: list[Placed]) -> int:
    at = {(p.request, p.step): (p.instrument, p.start) for p in placed}
    return sum(at.get((q.request, q.step)) == (q.instrument, q.start) for q in slots)


def _exact(params: Any) -> None:
    """A neighbourhood is solved to its own optimum: the gap the options allow is on the
    whole week's objective, and an optimal neighbourhood is what widens the next."""
    params.relative_gap_limit = 0.0
