"""One timed Online Retail replay into fresh topics (``bench.replay``, ``bench.backtest``)."""

from __future__ import annotations

import asyncio
import uuid

from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from paystream.bus.kafka import drop_topics, ensure_topics
from paystream.settings import KafkaSettings


def replay_once(base: KafkaSettings, limit: int | None) -> tuple[float, int]:
    """One full replay into fresh topics; return (records/s, records)."""
    kafka = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}"})
    asyncio.run(ensure_topics(kafka))
    summary, seconds = asyncio.run(run_online_retail(kafka, DEFAULT_FILE, limit=limit))
    records = sum(summary.events.values()) + summary.lines_routed
    asyncio.run(drop_topics(kafka))
    return records / seconds, records
