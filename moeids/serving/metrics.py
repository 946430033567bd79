"""Prometheus metrics of one app (its own registry, so several apps can share a process)."""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
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

    Parameters
    ----------
    queued : callable
        Returns the number of flows waiting in the queue (read at scrape time).
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queued):
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
        queue = Gauge("moeids_queued_flows", "Flows waiting to be scored", registry=r)
        queue.set_function(queued)

    def count_decisions(self, records, benign) -> None:
        """Count scored flows by label, and the alerts (labels other than ``benign``)."""
        counts = {}
        for record in records:
            counts[record["label"]] = counts.get(record["label"], 0) + 1
        for label, n in counts.items():
            self.flows.labels(label=str(label)).inc(n)
            if label != benign:
                self.alerts.inc(n)

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


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
