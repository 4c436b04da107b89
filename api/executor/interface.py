"""What the HTTP layer needs from whatever runs the solves.

:class:`~api.executor.local.LocalProcessExecutor` implements it on one machine,
:class:`~api.rqueue.executor.RQExecutor` with workers elsewhere (RQ on Redis).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

SolveObserver = Callable[[str, str, float], None]  # kind, outcome, seconds


class Executor(Protocol):
    """Runs stored jobs and unstored synchronous solves."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """A job was stored as queued: run it when a slot is free."""

    def solve_now(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        """Solve without storing a job (POST /v1/solve); resolves to a solution document."""

    def abandon(self, future: Future[dict[str, Any]]) -> None:
        """Nobody waits for this ``solve_now`` any more: drop it, or stop it if it runs."""

    def cancel(self, job_id: str) -> None:
        """The store marked ``job_id`` cancelled: stop it if it runs here."""

    def alive(self) -> bool: ...

    def running(self) -> int: ...

    def waiting(self) -> int:
        """Unstored (synchronous) solves waiting for a slot."""


class ExecutorOverloaded(Exception):
    """Too many synchronous solves are already waiting."""
