"""A worker's consumer lag as a Prometheus gauge, kept current from a daemon thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence

from prometheus_client import Gauge

from paystream.bus.kafka import LagProbe
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

    async def refresh() -> None:
        # One probe for the thread's life: its clients stay open between refreshes.
        probe = LagProbe(settings, group, list(topics))
        while True:
            try:
                for topic, behind in (await probe.read()).items():
                    LAG.labels(group, topic).set(behind)
            except Exception:
                log.debug("consumer lag refresh failed", exc_info=True)
                # A broken connection is reopened on the next refresh.
                with contextlib.suppress(Exception):
                    await probe.close()
            await asyncio.sleep(interval_s)

    thread = threading.Thread(target=lambda: asyncio.run(refresh()), name="lag-gauge", daemon=True)
    thread.start()
    return thread
