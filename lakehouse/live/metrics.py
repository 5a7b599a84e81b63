"""Prometheus metrics of the lakehouse service (``/metrics`` on ``stack.lakehouse_metrics_port``).

``paystream_lakehouse_gold_lag_seconds`` is the one to alert on: gold may lack ledger changes
committed in the last that-many seconds. It is computed when scraped, so it keeps growing
when refreshes stop (a hung service) instead of freezing at its last value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from paystream.contracts.freshness import GoldFreshness

if TYPE_CHECKING:
    from lakehouse.live.service import Refresh


class LiveMetrics:
    """The service's gauges, counters and refresh-time histogram, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._freshness: GoldFreshness | None = None
        self.lag = Gauge(
            "paystream_lakehouse_gold_lag_seconds",
            "Seconds of ledger changes gold may not hold yet (now minus covers_until).",
            registry=self.registry,
        )
        self.lag.set_function(self._lag)
        self.watermark = Gauge(
            "paystream_lakehouse_gold_source_watermark_seconds",
            "Commit time (Unix seconds) of the newest ledger change gold holds.",
            registry=self.registry,
        )
        self.last_refresh = Gauge(
            "paystream_lakehouse_last_refresh_timestamp_seconds",
            "When the last refresh ended, successful or not (Unix seconds).",
            registry=self.registry,
        )
        self.refresh_seconds = Histogram(
            "paystream_lakehouse_refresh_seconds",
            "Wall seconds of one refresh.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.refreshes = Counter(
            "paystream_lakehouse_refreshes",
            "Refreshes by outcome: idle (nothing new), refreshed, failed.",
            ["outcome"],
            registry=self.registry,
        )

    def _lag(self) -> float:
        return self._freshness.lag_s() if self._freshness is not None else float("nan")

    def observe(self, refresh: Refresh, freshness: GoldFreshness) -> None:
        """Account for one refresh."""
        self._freshness = freshness
        self.refresh_seconds.observe(refresh.seconds)
        self.last_refresh.set_to_current_time()
        if freshness.source_watermark is not None:
            self.watermark.set(freshness.source_watermark.timestamp())
        if refresh.error:
            outcome = "failed"
        elif refresh.steps:
            outcome = "refreshed"
        else:
            outcome = "idle"
        self.refreshes.labels(outcome).inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
