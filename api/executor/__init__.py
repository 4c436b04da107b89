"""Running solves outside the server process.

:class:`Executor` is the small interface the routes use; :class:`LocalProcessExecutor` is the
implementation for one machine. :class:`api.rqueue.executor.RQExecutor` implements the same
interface on RQ and Redis, for workers on other machines (``UNISHARE_REDIS_URL``).

- ``interface``: the protocol and its exception;
- ``processes``: worker processes (start warm, stop, kill the group, why one ended);
- ``reports``: progress, improving-solution events and job endings, from what workers send;
- ``local``: the supervisor loop that ties them to the store.
"""

from api.executor.interface import Executor, ExecutorOverloaded, SolveObserver
from api.executor.local import LocalProcessExecutor
from api.executor.processes import owner_is_dead
from api.executor.reports import error_solution

__all__ = [
    "Executor",
    "ExecutorOverloaded",
    "LocalProcessExecutor",
    "SolveObserver",
    "error_solution",
    "owner_is_dead",
]
