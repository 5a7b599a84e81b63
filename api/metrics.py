"""Prometheus metrics of the API: requests and latency by route template and status.

Each app has its own registry, so several apps (tests, benchmarks) can live in one process.
The middleware is plain ASGI: it adds no per-request task or body copy.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    """The API's collectors in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paystream_api_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paystream_api_request_seconds",
            "Request latency by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "paystream_api_in_flight", "Requests being served.", registry=self.registry
        )
        self.payments_accepted = Counter(
            "paystream_api_payments_accepted",
            "payment.authorized events produced (idempotent replays excluded).",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "paystream_api_rate_limited", "Requests refused with 429.", registry=self.registry
        )


class MetricsMiddleware:
    """Counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, capture)
        finally:
            self.metrics.in_flight.dec()
            route = _route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(route, method, str(status["code"])).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _route_template(scope: MutableMapping[str, Any]) -> str:
    # The template, not the raw path: one series per route, not per payment id.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
