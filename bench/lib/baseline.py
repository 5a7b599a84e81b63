"""The machine's idle baseline and the risk agent's stage histogram, for the latency benches.

Both latency benchmarks (``bench.risk``, ``bench.api``) share the 2 cores with the servers
and their own load generator, so each prints, in the same run, what the machine does with no
load at all: a broker produce-to-consume round trip, a Redis PING, and (for the API) the
trivial endpoint. :func:`stage_summary` turns two scrapes of the agent's
``paystream_risk_stage_seconds`` histogram into per-stage quantiles for the notes.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench.lib.stats import percentile
from paystream.settings import KafkaSettings, RedisSettings
from paystream.stores.redis import sync_client

STAGE_METRIC = "paystream_risk_stage_seconds"


def redis_ping_ms(settings: RedisSettings, count: int = 2000) -> list[float]:
    """Sequential PING round trips on an idle Redis, in ms."""
    client = sync_client(settings)
    client.ping()
    times: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _broker_round_trips(kafka: KafkaSettings, topic: str, count: int) -> list[float]:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.client_options(),
        group_id=f"bench-idle-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        await consumer.getmany(timeout_ms=500)
        times: list[float] = []
        for n in range(count):
            marker = f"idle-{n}".encode()
            started = time.perf_counter()
            await producer.send_and_wait(topic, marker, key=b"rt:idle")
            found = False
            while not found and time.perf_counter() - started < 5:
                batch = await consumer.getmany(timeout_ms=100)
                found = any(r.value == marker for rs in batch.values() for r in rs)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
        return times
    finally:
        await producer.stop()
        await consumer.stop()


def broker_round_trip_ms(kafka: KafkaSettings, topic: str, count: int = 300) -> list[float]:
    """One message at a time, produce (acks=all) to consume, on an idle broker, in ms.

    Keyed ``rt:`` so a risk agent reading the topic skips it (not an authorization)."""
    return asyncio.run(_broker_round_trips(kafka, topic, count))


@dataclass(frozen=True)
class Idle:
    """The idle machine: broker round trip and Redis PING (p50 and p99, ms)."""

    broker_p50_ms: float
    broker_p99_ms: float
    redis_p50_ms: float
    redis_p99_ms: float

    def describe(self) -> str:
        """One sentence for the notes."""
        return (
            f"broker round trip p50 {self.broker_p50_ms:.2f} ms, p99 {self.broker_p99_ms:.2f} ms; "
            f"Redis PING p50 {self.redis_p50_ms:.3f} ms, p99 {self.redis_p99_ms:.3f} ms"
        )


def idle_baseline(kafka: KafkaSettings, topic: str, redis: RedisSettings) -> Idle:
    """Measure :class:`Idle` now (nothing else should be running)."""
    broker = broker_round_trip_ms(kafka, topic)
    ping = redis_ping_ms(redis)
    return Idle(
        percentile(broker, 50), percentile(broker, 99), percentile(ping, 50), percentile(ping, 99)
    )


# -- the risk agent's stage histogram -------------------------------------------------------

Buckets = dict[str, dict[float, float]]  # stage -> upper bound -> cumulative count


def scrape_stages(ports: list[int]) -> Buckets:
    """Sum the stage histogram's cumulative buckets over the agents' /metrics ports."""
    totals: Buckets = defaultdict(lambda: defaultdict(float))
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name != STAGE_METRIC:
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    totals[sample.labels["stage"]][bound] += sample.value
    return totals


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    # Linear inside the bucket, as Prometheus' histogram_quantile does.
    total = cumulative[-1][1]
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def stage_summary(before: Buckets, after: Buckets) -> dict[str, tuple[float, float, int]]:
    """Per stage, between two scrapes: (p50 ms, p99 ms, observations)."""
    summary: dict[str, tuple[float, float, int]] = {}
    for stage, buckets in after.items():
        delta = sorted((b, c - before.get(stage, {}).get(b, 0.0)) for b, c in buckets.items())
        count = int(delta[-1][1]) if delta else 0
        if count:
            p50, p99 = _quantile(delta, 0.50) * 1000, _quantile(delta, 0.99) * 1000
            summary[stage] = (p50, p99, count)
    return summary
