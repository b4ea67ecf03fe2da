"""Prometheus metrics. With several workers they are aggregated through a shared directory."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from school_payments.adapters.resilience.circuit_breaker import BreakerState

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
STATEMENT_CACHE = Counter(
    "statement_cache_requests_total", "Statement reads by cache outcome", ["outcome"]
)
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Redis circuit breaker: 0 closed, 1 half-open, 2 open",
    ["name"],
    multiprocess_mode="liveall",
)
PAYMENTS = Counter("payments_recorded_total", "Payments recorded", ["currency"])
WEBHOOK_ATTEMPTS = Counter(
    "webhook_delivery_attempts_total",
    "Webhook delivery attempts by outcome (delivered, retrying, failed)",
    ["outcome"],
)
WEBHOOK_OLDEST_UNDELIVERED = Gauge(
    "webhook_oldest_undelivered_event_age_seconds",
    "Age of the oldest event still waiting to be delivered to some endpoint (0: none)",
    multiprocess_mode="max",
)

DATABASE_READS = Counter(
    "database_reads_total",
    "Snapshot reads by who served them (replica, primary) and why (fresh, no_replica, behind,"
    " lagging, down, promoted)",
    ["served_by", "reason"],
)
REPLICA_USABLE = Gauge(
    "database_replica_usable",
    "1 while a replica serves reads, 0 while it is left out",
    ["replica"],
    multiprocess_mode="liveall",
)

_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Counts a request and its latency. The labelled series are looked up once per
    (method, route, status): `labels()` on every request was a measurable share of its cost."""
    series = _request_series.get((method, route, status))
    if series is None:
        series = _request_series[(method, route, status)] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
        )
    series[0].inc()
    series[1].observe(seconds)


_BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def breaker_changed(_old: BreakerState, new: BreakerState) -> None:
    BREAKER_STATE.labels("redis").set(_BREAKER_VALUES[new])


def database_read(served_by: str, reason: str) -> None:
    DATABASE_READS.labels(served_by, reason).inc()


def replica_usable(replica: str, usable: bool) -> None:
    REPLICA_USABLE.labels(replica).set(1 if usable else 0)


def webhook_attempted(outcome: str) -> None:
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def oldest_undelivered(seconds: float) -> None:
    WEBHOOK_OLDEST_UNDELIVERED.set(seconds)


def serve(host: str, port: int) -> None:
    """Serves this process's metrics over HTTP (a worker process has no API to serve them)."""
    start_http_server(port, addr=host)


def worker_exited(pid: int) -> None:
    """Lets the other workers' metrics page drop this process's live gauges."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition() -> tuple[bytes, str]:
    """The metrics page: this process's registry, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
