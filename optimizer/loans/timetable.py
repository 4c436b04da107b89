"""When courier runs depart and arrive (contract 7.7), in day indices from the horizon start.

A courier *runs* on day *d* when *d* is one of its weekdays, its origin library is open on
*d* and its destination is open on *d* + its days. A loan rides a run out, and comes home on
the first run back departing on or after its due day. The model, the baseline and the
reasons read runs from here; the verifier computes them on its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from optimizer.loans.schema import Courier, LoansInstance


@dataclass(frozen=True)
class Departure:
    """One run: courier (index into ``instance.couriers``), departure and arrival days."""

    courier: int
    day: int
    arrive: int


class Timetable:
    """The instance's courier runs, looked up by direction and day."""

    def __init__(self, instance: LoansInstance):
        self.instance = instance
        self.couriers: list[Courier] = instance.couriers
        self.by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
        for k, c in enumerate(self.couriers):
            self.by_pair[(c.from_, c.to)].append(k)
        self.library = {x.id: x for x in instance.libraries}
        start = instance.horizon.start
        last_closed = [instance.day(d) for x in instance.libraries for d in x.closed_dates]
        # Past every closed date the timetable repeats weekly, so a week beyond it (and
        # beyond the longest transit) holds every run there will ever be.
        self.settled_after = max([instance.last_day, *last_closed]) + 1
        self.longest = max((c.transit for c in self.couriers), default=0)
        self._start_weekday = start.isoweekday()
        self._open: dict[tuple[str, int], bool] = {}
        self._returns: dict[tuple[str, str, int], Departure | None] = {}

    def weekday(self, day: int) -> int:
        """ISO weekday of day index ``day``."""
        return (self._start_weekday - 1 + day) % 7 + 1

    def is_open(self, library: str, day: int) -> bool:
        key = (library, day)
        if key not in self._open:
            when = self.instance.horizon.start + timedelta(days=day)
            self._open[key] = self.library[library].is_open(when)
        return self._open[key]

    def runs_on(self, k: int, day: int) -> bool:
        """Whether courier ``k`` runs on ``day``."""
        c = self.couriers[k]
        return (
            self.weekday(day) in c.weekdays
            and self.is_open(c.from_, day)
            and self.is_open(c.to, day + c.transit)
        )

    def serves(self, origin: str, destination: str) -> bool:
        """Whether some courier goes from ``origin`` to ``destination``."""
        return bool(self.by_pair.get((origin, destination)))

    def departures(self, origin: str, destination: str, first: int, last: int) -> list[Departure]:
        """Every run from ``origin`` to ``destination`` departing in [first, last], by day,
        then arrival, then the couriers' order in the instance."""
        out = [
            Departure(k, d, d + self.couriers[k].transit)
            for d in range(max(0, first), last + 1)
            for k in self.by_pair.get((origin, destination), [])
            if self.runs_on(k, d)
        ]
        out.sort(key=lambda x: (x.day, x.arrive, x.courier))
        return out

    def return_run(self, origin: str, destination: str, due: int) -> Departure | None:
        """The first run from ``origin`` to ``destination`` departing on or after ``due``:
        the earliest day, then the earliest arrival, then the courier listed first. None
        when no courier ever runs that way again."""
        key = (origin, destination, due)
        if key not in self._returns:
            last = max(due, self.settled_after + self.longest) + 7
            found = None
            for d in range(max(0, due), last + 1):
                runs = self.departures(origin, destination, d, d)
                if runs:
                    found = runs[0]
                    break
            self._returns[key] = found
        return self._returns[key]
