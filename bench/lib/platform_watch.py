"""What the platform benchmark watches while it posts: visibility, lag and the broker.

* :class:`DecisionPoller`: every few ms, one Redis call tells which pending payments have a
  decision under the key ``GET /v1/payments/{id}/risk`` reads
  (``ServedKeys(namespace).decision(id)``, built as the API builds it).
* :class:`ReplicaPoller`: a thread that every few ms asks the read replica which pending
  payments ``GET /v1/payments/{id}`` would find (the route's ``payment_id`` and
  ``merchant_id`` condition, batched with ``IN``).
* :class:`LagSampler`: each consumer group's lag, from one long-lived admin client and one
  consumer (the formula of ``paystream.bus.kafka.consumer_lag_by_topic``, without building
  new clients for every sample).
* :class:`RoundTrip`: the broker's own produce (acks=all) to consume time on a scratch topic.

Pending payments are handed over in dicts that the pollers pop from; ``dict.pop`` and
``list(dict)`` are atomic under the GIL, so the replica thread needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from paystream.settings import KafkaSettings, Settings
from paystream.stores.mysql import replica_engine

#: Largest batch one poll asks about: the oldest pending payments, which the sinks and the
#: agent apply first, so a newer one is at most one poll late when a batch lands at once.
BATCH = 1000
#: A poll waits at least this many times its own duration before the next one, so that when
#: the platform falls behind and the pending set grows, polling does not add to its load.
BACKOFF = 3.0


def pause_after(interval_s: float, took_s: float) -> float:
    """Seconds to wait before the next poll."""
    return max(interval_s, BACKOFF * took_s)


_PAYMENT_ID = re.compile(r"^pay_[0-9a-f]{32}$")
# One round trip answers for the whole batch: 1 where the decision hash exists.
_EXISTS = "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('EXISTS', k) end return r"


class DecisionPoller:
    """Times each pending payment until its risk decision is readable in Redis."""

    def __init__(self, redis: Redis[Any], interval_s: float) -> None:
        self.interval_s = interval_s
        self.script = redis.register_script(_EXISTS)
        self.pending: dict[str, tuple[float, str]] = {}  # payment id -> (sent, decision key)
        self.visible_ms: dict[str, float] = {}
        self.polls = 0
        self.asked = 0  # ids asked about, over all polls

    def add(self, payment_id: str, sent: float, key: str) -> None:
        """Start timing ``payment_id`` (posted at ``sent``; its decision lives at ``key``)."""
        self.pending[payment_id] = (sent, key)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            ids = list(self.pending)[:BATCH]
            if ids:
                keys = [self.pending[p][1] for p in ids]
                found = await self.script(keys=keys)
                now = time.monotonic()
                self.polls += 1
                self.asked += len(ids)
                for payment_id, exists in zip(ids, found, strict=True):
                    if exists:
                        sent, _ = self.pending.pop(payment_id)
                        self.visible_ms[payment_id] = (now - sent) * 1000
            await asyncio.sleep(pause_after(self.interval_s, time.monotonic() - started))


class ReplicaPoller(threading.Thread):
    """Times each pending payment until the read replica holds it for its merchant."""

    def __init__(self, settings: Settings, interval_s: float) -> None:
        super().__init__(name="replica-poller", daemon=True)
        self.engine = replica_engine(settings.mysql)
        self.interval_s = interval_s
        self.pending: dict[str, tuple[float, str]] = {}  # payment id -> (sent, merchant)
        self.visible_ms: dict[str, float] = {}
        self.polls = 0
        self.asked = 0
        self.done = threading.Event()
        self.error: BaseException | None = None

    def add(self, payment_id: str, sent: float, merchant_id: str) -> None:
        """Start timing ``payment_id`` of ``merchant_id``, posted at ``sent``."""
        if not _PAYMENT_ID.match(payment_id):
            raise ValueError(f"unexpected payment id from the API: {payment_id!r}")
        self.pending[payment_id] = (sent, merchant_id)

    def run(self) -> None:
        """Poll until :attr:`done` is set."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                while not self.done.is_set():
                    started = time.monotonic()
                    ids = list(self.pending)[:BATCH]
                    if ids:
                        self._poll(conn, ids)
                    time.sleep(pause_after(self.interval_s, time.monotonic() - started))
        except BaseException as exc:  # surfaced by the benchmark, which owns the thread
            self.error = exc
        finally:
            self.engine.dispose()

    def _poll(self, conn: Any, ids: list[str]) -> None:
        # The ids are the API's own `pay_<32 hex>` (checked in add): quoting them directly
        # spares the pure-Python driver from escaping thousands of parameters a second.
        listed = ",".join(f"'{p}'" for p in ids)
        rows = conn.exec_driver_sql(
            f"SELECT payment_id, merchant_id FROM payments WHERE payment_id IN ({listed})"  # noqa: S608
        ).all()
        now = time.monotonic()
        self.polls += 1
        self.asked += len(ids)
        for payment_id, merchant_id in rows:
            entry = self.pending.get(payment_id)
            if entry is not None and entry[1] == merchant_id:
                del self.pending[payment_id]
                self.visible_ms[payment_id] = (now - entry[0]) * 1000


def group_lag(
    tps: list[TopicPartition],
    end: dict[TopicPartition, int],
    committed: dict[TopicPartition, int],
    begin: dict[TopicPartition, int],
) -> int:
    """Records of ``tps`` a group has not committed: a partition without a commit counts
    from its beginning, as ``consumer_lag_by_topic`` does."""
    lag = 0
    for tp in tps:
        position = committed.get(tp, -1)
        if position < 0:
            position = begin.get(tp, 0)
        lag += max(0, end.get(tp, 0) - position)
    return lag


class LagSampler:
    """Each consumer group's lag, sampled with clients kept open between samples."""

    def __init__(self, kafka: KafkaSettings, groups: dict[str, list[str]]) -> None:
        self.kafka = kafka
        self.groups = groups
        self.admin = AIOKafkaAdminClient(**kafka.client_options())
        self.consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False)
        self.tps: dict[str, list[TopicPartition]] = {}
        self.begin: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Connect and learn every group's partitions."""
        await self.admin.start()
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        for group, topics in self.groups.items():
            self.tps[group] = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(self.consumer.partitions_for_topic(t) or set())
            ]
        everything = sorted({tp for tps in self.tps.values() for tp in tps})
        self.begin = await self.consumer.beginning_offsets(everything) if everything else {}

    async def sample(self) -> dict[str, int]:
        """Lag of every group now, in records."""
        everything = sorted({tp for tps in self.tps.values() for tp in tps})
        end = await self.consumer.end_offsets(everything) if everything else {}
        lags: dict[str, int] = {}
        for group, tps in self.tps.items():
            offsets = await self.admin.list_consumer_group_offsets(group)
            committed = {tp: meta.offset for tp, meta in offsets.items()}
            lags[group] = group_lag(tps, end, committed, self.begin)
        return lags

    async def stop(self) -> None:
        """Close both clients."""
        await self.consumer.stop()
        await self.admin.close()


class RoundTrip:
    """The broker's produce-to-consume time on a scratch topic, one record at a time."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=0)
        self.consumer = AIOKafkaConsumer(
            topic,
            **kafka.client_options(),
            group_id=f"bench-platform-rt-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
            # A fetch returns as soon as a record arrives; the wait only bounds empty polls,
            # and 5 ms of it cost 4x the CPU (here and in the broker) for the same latency.
            fetch_max_wait_ms=500,
        )

    async def start(self) -> None:
        """Connect; the consumer joins before the first record is timed."""
        await self.producer.start()
        await self.consumer.start()
        await self.consumer.getmany(timeout_ms=500)

    async def once(self) -> float:
        """One round trip in ms (5 s when the record never comes back)."""
        marker = uuid.uuid4().bytes
        started = time.monotonic()
        await self.producer.send_and_wait(self.topic, marker)
        while time.monotonic() - started < 5:
            batch = await self.consumer.getmany(timeout_ms=100)
            if any(r.value == marker for records in batch.values() for r in records):
                break
        return (time.monotonic() - started) * 1000

    async def run(self, stop: asyncio.Event, interval_s: float, out: list[float]) -> None:
        """Time a round trip every ``interval_s`` into ``out`` until ``stop`` is set."""
        while not stop.is_set():
            out.append(await self.once())
            await asyncio.sleep(interval_s)

    async def stop(self) -> None:
        """Close both clients."""
        await self.producer.stop()
        await self.consumer.stop()


async def create_scratch_topic(kafka: KafkaSettings, topic: str) -> None:
    """Create the round trip's one-partition topic if it is missing."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
                await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    await asyncio.sleep(0.5)  # the new partition's leader


async def delete_scratch_topic(kafka: KafkaSettings, topic: str) -> None:
    """Remove the round trip's topic, leaving the broker's topics as the demo left them."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        if topic in set(await admin.list_topics()):
            await admin.delete_topics([topic])
    finally:
        await admin.close()
