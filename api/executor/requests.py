"""Synchronous solves (``POST /v1/solve``) waiting for a worker slot.

They are never stored: the caller waits on a future. The routes add and abandon requests
from the event loop's threads, the supervisor takes them; every method is thread-safe.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from api.documents import kind_of
from api.executor.interface import ExecutorOverloaded


@dataclass
class SyncRequest:
    document: str
    overrides: dict[str, Any]
    kind: str
    future: Future[dict[str, Any]]


class SyncQueue:
    """Waiting synchronous solves, oldest first, at most ``limit`` of them."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting: deque[SyncRequest] = deque()
        self._abandoned: list[Future[dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        """Queue a solve; raises :class:`ExecutorOverloaded` when ``limit`` already wait."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if len(self._waiting) >= self.limit:
                raise ExecutorOverloaded(f"{len(self._waiting)} solves are already waiting")
            self._waiting.append(SyncRequest(document, overrides, kind_of(document), future))
        return future

    def take(self) -> SyncRequest | None:
        with self._lock:
            return self._waiting.popleft() if self._waiting else None

    def abandon(self, future: Future[dict[str, Any]]) -> bool:
        """Drop a waiting request (True); one that already runs is remembered for
        :meth:`take_abandoned` (False)."""
        with self._lock:
            for request in self._waiting:
                if request.future is future:
                    self._waiting.remove(request)
                    future.cancel()
                    return True
            self._abandoned.append(future)
            return False

    def take_abandoned(self) -> list[Future[dict[str, Any]]]:
        """Running solves whose callers went away since the last call."""
        with self._lock:
            abandoned, self._abandoned = self._abandoned, []
        return abandoned

    def drain(self) -> list[SyncRequest]:
        """Every waiting request, removed from the queue."""
        with self._lock:
            pending = list(self._waiting)
            self._waiting.clear()
        return pending
