"""Prometheus metrics of one app (its own registry, so several apps can share a process).

Under ``moeids serve --workers N`` each worker process counts into files of the folder
named by ``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, on when that
variable is set before the worker imports ``prometheus_client``), and ``/metrics``, answered
by any one worker, sums the files of all workers.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = ["MetricsMiddleware", "ServiceMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class ServiceMetrics:
    """Counters and histograms of the service.

    Metrics: ``moeids_requests_total{endpoint,status}``,
    ``moeids_request_latency_seconds{endpoint}``, ``moeids_flows_scored_total{label}``,
    ``moeids_alerts_total``, ``moeids_batch_flows`` (flows per micro-batch) and
    ``moeids_queued_flows``.

    In multiprocess mode (``$PROMETHEUS_MULTIPROC_DIR`` set, as ``moeids serve --workers N``
    does) the counters and histograms are summed over the live and past workers of the
    service, ``moeids_queued_flows`` is the sum over the live workers (each updates its own
    when it takes a micro-batch and when it answers a request), and
    ``moeids_worker_flows_scored{pid}`` counts the flows each live worker has scored.

    Parameters
    ----------
    queued : callable
        Returns the number of flows waiting in the queue (read at scrape time, or, in
        multiprocess mode, at each update).
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queued):
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self._queued = queued
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "moeids_requests", "HTTP requests answered", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "moeids_request_latency_seconds",
            "Time from request to response",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.flows = Counter(
            "moeids_flows_scored", "Flows scored, by predicted label", ["label"], registry=r
        )
        self.alerts = Counter("moeids_alerts", "Flows predicted as an attack", registry=r)
        self.batch = Histogram(
            "moeids_batch_flows", "Flows per micro-batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.queue = Gauge(
            "moeids_queued_flows",
            "Flows waiting to be scored",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.worker_flows = None
        if self.multiprocess:
            self.worker_flows = Gauge(
                "moeids_worker_flows_scored",
                "Flows scored by each live worker process since it started",
                registry=r,
                multiprocess_mode="liveall",
            )
        else:
            self.queue.set_function(queued)

    def observe_batch(self, n_flows) -> None:
        """Count a micro-batch of ``n_flows`` flows taken from the queue."""
        self.batch.observe(n_flows)
        if self.multiprocess:
            self.worker_flows.inc(n_flows)
            self.queue.set(self._queued())

    def count_decisions(self, records, benign) -> None:
        """Count scored flows by label, and the alerts (labels other than ``benign``)."""
        counts = {}
        for record in records:
            counts[record["label"]] = counts.get(record["label"], 0) + 1
        for label, n in counts.items():
            self.flows.labels(label=str(label)).inc(n)
            if label != benign:
                self.alerts.inc(n)
        if self.multiprocess:
            self.queue.set(self._queued())

    def render(self) -> bytes:
        """The metrics in the Prometheus text format (of every worker, in multiprocess mode)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def close(self) -> None:
        """At the end of a worker process: drop its live gauges from the shared files."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request by endpoint and status.

    Paths other than ``endpoints`` are counted as ``other`` (bounded label values).
    """

    def __init__(self, app, metrics: ServiceMetrics, endpoints):
        self.app = app
        self.metrics = metrics
        self.endpoints = frozenset(endpoints)
        self._latency = {}  # endpoint -> its histogram child (labels() costs a lock per call)
        self._requests = {}  # (endpoint, status) -> its counter child

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        start, status = time.perf_counter(), 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            latency = self._latency.get(endpoint)
            if latency is None:
                latency = self._latency[endpoint] = self.metrics.latency.labels(endpoint=endpoint)
            latency.observe(elapsed)
            requests = self._requests.get((endpoint, status))
            if requests is None:
                requests = self.metrics.requests.labels(endpoint=endpoint, status=str(status))
                self._requests[endpoint, status] = requests
            requests.inc()
