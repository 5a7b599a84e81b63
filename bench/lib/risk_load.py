"""The risk benchmark's load generator and timing consumers (loopback, bounded in time).

:func:`measure` produces authorizations at a steady rate and times each one to its decision
on the decisions topic; a second plain consumer of the payments topic times every 10th
payment's own produce-to-consume round trip, the floor any Kafka-based decision could reach.
Both consumers fetch with ``fetch_max_wait_ms=5`` and the producer sends with
``linger_ms=0`` and ``acks=all``, so the timing clients add no batching delay of their own.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ingest.publish import Pacer
from paystream.contracts.events import PaymentAuthorized
from paystream.settings import KafkaSettings


async def measure(
    kafka: KafkaSettings, events: list[PaymentAuthorized], rate: float
) -> tuple[list[float], list[float], int]:
    """Produce at ``rate``; return (decision ms, broker round-trip ms, decisions missing)."""

    def consumer(topic: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            kafka.topic(topic),
            **kafka.client_options(),
            auto_offset_reset="latest",
            group_id=f"bench-risk-{uuid.uuid4().hex[:6]}",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )

    decisions, payments = consumer("decisions"), consumer("payments")
    for c in (decisions, payments):
        await c.start()
        await c.getmany(timeout_ms=500)
    sent: dict[str, float] = {}
    decided: dict[str, float] = {}
    broker: list[float] = []

    async def read_decisions() -> None:
        while True:
            batch = await decisions.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    # Only the id: a full model validation per decision would take the cores
                    # the agent is being timed on.
                    payment_id = json.loads(r.value or b"{}").get("payment_id")
                    if payment_id:
                        decided.setdefault(payment_id, now)

    async def read_payments() -> None:
        while True:
            batch = await payments.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    key = (r.key or b"").decode()
                    if key.startswith("rt:"):
                        continue
                    pid = r.headers and dict(r.headers).get("pid")
                    if pid and pid.decode() in sent:
                        broker.append((now - sent[pid.decode()]) * 1000)

    # Serialized before the clock starts, so the generator spends its time sending.
    wire = [(e.payment_id, e.to_bytes(), e.partition_key().encode()) for e in events]
    tasks = [asyncio.create_task(read_decisions()), asyncio.create_task(read_payments())]
    pacer = Pacer(rate)
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=0)
    await producer.start()
    try:
        topic = kafka.topic("payments")
        for n, (payment_id, value, key) in enumerate(wire):
            await pacer.wait(n)
            sent[payment_id] = time.monotonic()
            # Every 10th payment carries a header so the plain consumer can time it too.
            headers = [("pid", payment_id.encode())] if n % 10 == 0 else None
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    deadline = time.monotonic() + 60
    while len(decided) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    for c in (decisions, payments):
        await c.stop()
    latencies = [(decided[p] - sent[p]) * 1000 for p in sent if p in decided]
    return latencies, broker, len(sent) - len(decided)
