"""Kafka / Event Hubs adapter: topic administration, publishing and topic counts.

Works with the local KRaft broker or Event Hubs' Kafka endpoint; the difference is only in
:meth:`paystream.settings.KafkaSettings.client_options`. No transactions are used, since
Event Hubs Standard has none: delivery is at-least-once and consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupCoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
)

from paystream.bus.port import Message
from paystream.contracts import TOPICS, Event
from paystream.errors import ServiceUnavailableError
from paystream.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Topics that carry no event contract: the dead-letter topic, and the ledger's change feed
#: (totals after each committed batch, read by the projections; see docs/streams.md).
SYSTEM_TOPICS = ("dlq", "ledger")


def all_topics(settings: KafkaSettings) -> list[str]:
    """Every topic (event hub) paystream uses, with its prefix."""
    return [settings.topic(name) for name in (*TOPICS, *SYSTEM_TOPICS)]


def _unavailable(settings: KafkaSettings, exc: Exception) -> ServiceUnavailableError:
    return ServiceUnavailableError("Kafka", settings.bootstrap_servers, type(exc).__name__)


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the ones created.

    Raises:
        ServiceUnavailableError: the broker cannot be reached.
    """
    wanted = list(names) if names is not None else all_topics(settings)
    admin = AIOKafkaAdminClient(**settings.client_options())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            # Another process may create them concurrently; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, settings.partitions, 1) for t in missing])
        return missing
    except KafkaConnectionError as exc:
        raise _unavailable(settings, exc) from exc
    finally:
        await admin.close()


async def drop_topics(settings: KafkaSettings, names: Iterable[str] | None = None) -> list[str]:
    """Delete the topics of ``names`` (every topic of ``settings``' prefix if none) that exist.

    For the isolated worlds of tests and benchmarks, which make their own prefixed topics: a
    broker that keeps them all carries thousands of idle partitions, and every client's
    metadata (and the broker's own idle CPU) grows with them. Returns the topics deleted.
    """
    wanted = set(names) if names is not None else set(all_topics(settings))
    admin = AIOKafkaAdminClient(**settings.client_options())
    try:
        await admin.start()
        present = sorted(wanted & set(await admin.list_topics()))
        if present:
            await admin.delete_topics(present)
        return present
    except KafkaConnectionError as exc:
        raise _unavailable(settings, exc) from exc
    finally:
        await admin.close()


async def topic_counts(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Number of records held by each topic (end minus beginning offsets)."""
    consumer = AIOKafkaConsumer(**settings.client_options(), enable_auto_commit=False)
    try:
        await consumer.start()
        counts: dict[str, int] = {}
        for topic in topics:
            tps = await topic_partitions(consumer, topic)
            if not tps:
                counts[topic] = 0
                continue
            end = await consumer.end_offsets(tps)
            begin = await consumer.beginning_offsets(tps)
            counts[topic] = sum(end[tp] - begin[tp] for tp in tps)
        return counts
    except KafkaConnectionError as exc:
        raise _unavailable(settings, exc) from exc
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, refreshing metadata once if the consumer lacks them."""
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def event_record(settings: KafkaSettings, event: Event, value: bytes | None = None) -> Message:
    """The record format of every event: its topic, partition key, JSON body and type header.

    One customer's events share a key, so they stay in order in one partition. ``value`` is
    the event's :meth:`~paystream.contracts.Event.to_bytes`, when the caller already has it.
    """
    return Message(
        topic=settings.topic(event.topic),
        key=event.partition_key().encode(),
        value=event.to_bytes() if value is None else value,
        headers=(("event_type", event.event_type.encode()),),
    )


def new_producer(settings: KafkaSettings, *, low_latency: bool = False) -> AIOKafkaProducer:
    """An aiokafka producer with the platform's options (not started).

    Every producer waits for ``acks=all``. Idempotence is off because Event Hubs has no
    transactions or idempotent producers; consumers dedupe by event id instead.

    Args:
        low_latency: send each record at once (the risk agent, API intake) instead of
            batching for throughput (replays, publishers).
    """
    if low_latency:
        return AIOKafkaProducer(
            **settings.client_options(), acks="all", linger_ms=0, enable_idempotence=False
        )
    return AIOKafkaProducer(
        **settings.client_options(),
        acks="all",
        linger_ms=10,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        enable_idempotence=False,
    )


@dataclass
class PublishStats:
    """Counts kept by a publisher."""

    sent: int = 0
    bytes: int = 0


class KafkaPublisher:
    """Publishes events and raw records to Kafka, batching sends for throughput.

    Use as an async context manager. ``publish`` only enqueues; ``flush`` waits until every
    record enqueued so far is acknowledged by the broker (``acks=all``).
    """

    def __init__(self, settings: KafkaSettings, max_in_flight: int = 20_000) -> None:
        self.settings = settings
        self.stats = PublishStats()
        self._max_in_flight = max_in_flight
        self._pending: list[asyncio.Future[Any]] = []
        self._producer = new_producer(settings)

    async def __aenter__(self) -> KafkaPublisher:
        try:
            await self._producer.start()
        except KafkaConnectionError as exc:
            await self._producer.stop()
            raise _unavailable(self.settings, exc) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.flush()
        finally:
            await self._producer.stop()

    async def publish(self, event: Event) -> None:
        """Enqueue one event on its topic, keyed by its partition key."""
        await self.send(event_record(self.settings, event))

    async def send(self, message: Message) -> None:
        """Enqueue one raw record."""
        try:
            future = await self._producer.send(
                message.topic,
                value=message.value,
                key=message.key,
                headers=list(message.headers),
            )
        except KafkaError as exc:
            raise _unavailable(self.settings, exc) from exc
        self._pending.append(future)
        self.stats.sent += 1
        self.stats.bytes += len(message.value)
        if len(self._pending) >= self._max_in_flight:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every enqueued record is acknowledged."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


async def _committed_offsets(settings: KafkaSettings, group: str) -> dict[TopicPartition, Any]:
    # A new broker creates its offsets topic on the first coordinator lookup and answers
    # "coordinator not available" meanwhile: a transient state worth a few seconds' wait.
    for attempt in range(30):
        admin = AIOKafkaAdminClient(**settings.client_options())
        try:
            await admin.start()
            return dict(await admin.list_consumer_group_offsets(group))
        except KafkaConnectionError as exc:
            raise _unavailable(settings, exc) from exc
        except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            if attempt == 29:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise AssertionError("unreachable")


async def consumer_lag(settings: KafkaSettings, group: str, topics: Iterable[str]) -> int:
    """Records in ``topics`` not yet committed by consumer ``group`` (all of them if none)."""
    return sum((await consumer_lag_by_topic(settings, group, topics)).values())


async def consumer_lag_by_topic(
    settings: KafkaSettings, group: str, topics: Iterable[str]
) -> dict[str, int]:
    """Per topic: records not yet committed by consumer ``group`` (all of them if none)."""
    committed = await _committed_offsets(settings, group)
    probe = LagProbe(settings, group, list(topics))
    try:
        return await probe.read(committed)
    finally:
        await probe.close()


class LagProbe:
    """Reads one group's lag per topic, again and again, over clients it keeps open.

    A gauge refreshed every few seconds would otherwise connect twice per refresh and fetch
    the whole cluster's metadata each time (every topic's partitions), about 4% of a busy
    stream worker's samples (py-spy); kept open, the clients track only these topics.
    """

    def __init__(self, settings: KafkaSettings, group: str, topics: list[str]) -> None:
        self.settings = settings
        self.group = group
        self.topics = topics
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self, committed: dict[TopicPartition, Any] | None = None) -> dict[str, int]:
        """Per topic: records not yet committed (``committed``: the group's offsets, if read)."""
        if committed is None:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(**self.settings.client_options())
                await self._admin.start()
            committed = dict(await self._admin.list_consumer_group_offsets(self.group))
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self.settings.client_options(), enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        await self._consumer._client.set_topics(self.topics)
        if any(self._consumer.partitions_for_topic(t) is None for t in self.topics):
            # A topic created since: look again now rather than at the next periodic refresh.
            await self._consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t in self.topics
            for p in sorted(self._consumer.partitions_for_topic(t) or set())
        ]
        end = await self._consumer.end_offsets(tps) if tps else {}
        begin = await self._consumer.beginning_offsets(tps) if tps else {}
        lag = dict.fromkeys(self.topics, 0)
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
            lag[tp.topic] += max(0, end[tp] - position)
        return lag

    async def close(self) -> None:
        """Close the clients; a later :meth:`read` opens new ones."""
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
