"""Identical requests: which requests differ in nothing but their id (:func:`identical_requests`),
the CP-SAT rows that serve, and start, the earlier ones in list order first
(:func:`order_identical`), and the same labelling of a schedule found elsewhere, greedy or
HiGHS (:func:`canonical`), so that it fits those rows.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from optimizer.instruments.timeline import Placed, Timeline


def identical_requests(tl: Timeline) -> list[list[int]]:
    """Groups (in list order) of two or more requests that differ in nothing but their id.

    Everything the model reads of a request must agree: institution (quotas), weight,
    release, deadline, due, whether it must be served, and per step the duration, the
    eligible instruments and whether it needs an operator. Pinned requests are left out.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for r, req in enumerate(tl.requests):
        if any(s.pin is not None for s in req.steps):
            continue
        steps = tuple(
            (
                s.duration, tuple(s.instruments), s.operator_required, s.attended,
                s.moves_sample, s.cores, s.gpus,
            )
            for s in req.steps
        )  # fmt: skip
        # Requests booked differently in a previous plan are not interchangeable: keeping
        # one's booking is worth something the other's is not.
        key = (
            req.institution, req.weight, req.release, req.deadline, req.due, req.must, steps,
            req.previous,
        )  # fmt: skip
        groups.setdefault(key, []).append(r)
    return [members for members in groups.values() if len(members) > 1]


def order_identical(
    model: Any, identical: list[list[int]], served: list[Any], first: list[Any | None]
) -> None:
    """Redundant: of identical requests, the earlier in list order is served and starts first.

    ``served`` holds each request's served literal, ``first`` its first step's start (None
    where that step has nowhere to go). Identical requests can swap their whole schedules,
    so every schedule has a copy, as good, where each served one's predecessor in the group
    is served too and starts no later. Without this, CP-SAT explores every labelling of the
    same schedule: on a batch of repeated runs it proves optima it could not before
    (``benchmarks/instruments.py``).
    """
    for members in identical:
        for a, b in itertools.pairwise(members):
            model.add_implication(served[b], served[a])
            start_a, start_b = first[a], first[b]
            if start_a is not None and start_b is not None:
                model.add(start_a <= start_b).only_enforce_if(served[b])


def canonical(
    placed: list[Placed], served: list[int], identical: list[list[int]]
) -> tuple[list[Placed], list[int]]:
    """The same schedule with each group of identical requests relabelled so that the
    earlier ones in list order are served, and start, first."""
    if not identical:
        return placed, served
    on = set(served)
    first: dict[int, int] = {}
    for p in placed:
        if p.step == 0:
            first[p.request] = p.start
    relabel: dict[int, int] = {}
    for members in identical:
        ranked = sorted(members, key=lambda r: (r not in on, first.get(r, 0), r))
        relabel.update(zip(ranked, members, strict=True))
    placed = [dataclasses.replace(p, request=relabel.get(p.request, p.request)) for p in placed]
    return placed, [relabel.get(r, r) for r in served]
