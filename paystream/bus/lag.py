"""A worker's consumer lag as a Prometheus gauge, kept current from a daemon thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from prometheus_client import Gauge

from paystream.bus.kafka import consumer_lag_by_topic
from paystream.settings import KafkaSettings

log = logging.getLogger(__name__)

LAG = Gauge(
    "paystream_consumer_lag", "Records not yet committed by a consumer group", ["group", "topic"]
)


def export_consumer_lag(
    settings: KafkaSettings, group: str, topics: Sequence[str], interval_s: float = 5.0
) -> threading.Thread:
    """Keep :data:`LAG` current for ``group`` on ``topics`` from a daemon thread.

    The lag is what an autoscaler or an alert wants, and reading it needs no Kafka exporter.
    """

    def loop() -> None:
        while True:
            try:
                lag = asyncio.run(consumer_lag_by_topic(settings, group, topics))
                for topic, behind in lag.items():
                    LAG.labels(group, topic).set(behind)
            except Exception:
                log.debug("consumer lag refresh failed", exc_info=True)
            threading.Event().wait(interval_s)

    thread = threading.Thread(target=loop, name="lag-gauge", daemon=True)
    thread.start()
    return thread
