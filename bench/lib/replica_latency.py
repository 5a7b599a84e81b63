"""Replica-visible latency runs of the ledger worker at a steady rate (``bench.streams``).

Payments are produced at a fixed rate; a thread polls the MySQL read replica every 5 ms for
the outstanding ones, and a plain consumer on the payments topic samples the broker's own
produce-to-consume round trip as the reference.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from aiokafka import AIOKafkaConsumer
from sqlalchemy import bindparam, text

from bench.lib.payments import synthetic_payments
from bench.lib.stream_throughput import LOGS
from harness.worlds import StreamWorld, create_world
from ingest.publish import Pacer
from paystream.bus.kafka import KafkaPublisher
from paystream.contracts import Event
from paystream.contracts.events import PaymentAuthorized
from paystream.settings import KafkaSettings, Settings
from paystream.stores.mysql import Database


def latency_run(settings: Settings, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Produce payments at ``rate``/s; return (replica-visible ms, broker round-trip ms)."""
    world = create_world(settings, LOGS)
    tag = world.settings.streams.namespace
    try:
        world.start_worker()
        warm = synthetic_payments(2000, f"{tag}w")
        world.publish(warm)
        world.wait_processed(len(warm), timeout_s=300)
        events = synthetic_payments(int(rate * seconds), tag)[20:]
        sent_at: dict[str, float] = {}
        visible: dict[str, float] = {}
        broker: list[float] = []
        done = threading.Event()
        poller = threading.Thread(
            target=_poll_replica, args=(world, sent_at, visible, done), daemon=True
        )
        poller.start()
        asyncio.run(_produce_paced(world.settings.kafka, events, rate, sent_at, broker))
        deadline = time.monotonic() + 120
        while len(visible) < len(sent_at) and time.monotonic() < deadline:
            time.sleep(0.2)
        done.set()
        poller.join()
        latencies = [(visible[k] - sent_at[k]) * 1000 for k in visible]
        return latencies, broker
    finally:
        world.destroy()


async def _produce_paced(
    kafka: KafkaSettings,
    events: list[Event],
    rate: float,
    sent_at: dict[str, float],
    broker: list[float],
) -> None:
    # The broker's round trip is sampled by a plain consumer on the same topic.
    consumer = AIOKafkaConsumer(
        kafka.topic("payments"),
        **kafka.client_options(),
        auto_offset_reset="latest",
        group_id=f"bench-rt-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=500)
    stamps: dict[bytes, float] = {}

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    key = (record.value or b"")[:60]
                    if key in stamps:
                        broker.append((now - stamps.pop(key)) * 1000)

    reader = asyncio.create_task(consume())
    pacer = Pacer(rate)
    async with KafkaPublisher(kafka, max_in_flight=200) as publisher:
        for n, event in enumerate(events):
            await pacer.wait(n)
            assert isinstance(event, PaymentAuthorized)
            sent_at[event.payment_id] = time.monotonic()
            if n % 20 == 0:
                stamps[event.to_bytes()[:60]] = time.monotonic()
            await publisher.publish(event)
            if n % 50 == 0:
                await publisher.flush()
    await asyncio.sleep(2)
    reader.cancel()
    await consumer.stop()


def _poll_replica(
    world: StreamWorld, sent_at: dict[str, float], visible: dict[str, float], done: threading.Event
) -> None:
    """Ask the replica every 5 ms which outstanding payments it already holds."""
    database = Database(world.settings.mysql)
    query = text("SELECT payment_id FROM payments WHERE payment_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    try:
        with database.reader.connect() as conn:
            while not done.is_set():
                outstanding = [k for k in list(sent_at) if k not in visible][:2000]
                if outstanding:
                    rows = conn.execute(query, {"ids": outstanding}).scalars().all()
                    conn.commit()
                    now = time.monotonic()
                    for payment_id in rows:
                        visible[payment_id] = now
                time.sleep(0.005)
    finally:
        database.dispose()
