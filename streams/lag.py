"""Consumer lag of every stream group, for `paystream streams lag`, the demo and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading

from prometheus_client import Gauge

from paystream.bus.kafka import consumer_lag_by_topic
from paystream.settings import Settings
from streams.groups import all_groups

log = logging.getLogger(__name__)

LAG = Gauge(
    "paystream_consumer_lag", "Records not yet committed by a consumer group", ["group", "topic"]
)


async def stream_lag(
    settings: Settings, groups: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per group (ledger, projections, risk agent) and topic: records not yet committed."""
    wanted = all_groups(settings)
    chosen = wanted if groups is None else {g: wanted[g] for g in groups}
    return {
        group: await consumer_lag_by_topic(settings.kafka, group, topics)
        for group, topics in chosen.items()
    }


def export_lag(settings: Settings, group: str, interval_s: float = 5.0) -> threading.Thread:
    """Keep :data:`LAG` current for ``group`` from a daemon thread (a worker's own group).

    The lag is what an autoscaler or an alert wants, and reading it needs no Kafka exporter.
    """

    def loop() -> None:
        while True:
            try:
                lag = asyncio.run(stream_lag(settings, [group]))[group]
                for topic, behind in lag.items():
                    LAG.labels(group, topic).set(behind)
            except Exception:
                log.debug("consumer lag refresh failed", exc_info=True)
            threading.Event().wait(interval_s)

    thread = threading.Thread(target=loop, name="lag-gauge", daemon=True)
    thread.start()
    return thread
