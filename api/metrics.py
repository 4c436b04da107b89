"""Prometheus metrics: jobs by kind and status, queue depth, running solves, durations, HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.store import STATUSES, JobStore

log = logging.getLogger(__name__)


class _StoreCollector(Collector):
    """Read at scrape time from the store, so the numbers survive restarts and add up."""

    def __init__(self, store: JobStore, running: Callable[[], int], waiting: Callable[[], int]):
        self.store = store
        self.running = running
        self.waiting = waiting

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "unishare_jobs", "Stored jobs by kind and status.", labels=["kind", "status"]
        )
        queued = 0
        try:
            counts = self.store.counts()
        except Exception:
            log.warning("metrics: cannot read job counts", exc_info=True)
            counts = {}
        kinds = sorted({k for k, _ in counts})
        for kind in kinds:
            for status in STATUSES:
                jobs.add_metric([kind, status], counts.get((kind, status), 0))
        queued = sum(n for (_, s), n in counts.items() if s == "queued")
        yield jobs
        depth = GaugeMetricFamily(
            "unishare_queue_depth", "Jobs and synchronous solves waiting for a worker."
        )
        depth.add_metric([], queued + self.waiting())
        yield depth
        running = GaugeMetricFamily(
            "unishare_running_solves", "Solves running in worker processes now."
        )
        running.add_metric([], self.running())
        yield running


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "unishare_http_requests",
            "HTTP requests by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "unishare_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
        )
        self.solve_duration = Histogram(
            "unishare_solve_duration_seconds",
            "Wall time of solves in worker processes, by kind and outcome.",
            ["kind", "outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )

    def watch(
        self, store: JobStore, running: Callable[[], int], waiting: Callable[[], int]
    ) -> None:
        self.registry.register(_StoreCollector(store, running, waiting))

    def observe_solve(self, kind: str, outcome: str, seconds: float) -> None:
        self.solve_duration.labels(kind, outcome).observe(seconds)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(route).observe(seconds)


def now() -> float:
    return time.perf_counter()


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's path template (never the raw path: ids would explode the labels)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
