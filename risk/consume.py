"""The risk agent's hot path: a plain aiokafka consumer in the agent's own consumer group.

Why not a Faust stream: profiled at 1,000 payments/s, Faust's fetcher, conductor and per-event
objects held the GIL for 46% of the agent's busy time, more than scoring itself (30%), and one
agent fell behind (``docs/benchmarks.md``, Risk decisions). Here a batch is whatever the
consumer has buffered (up to ``risk.batch_size``), taken at once, never held open.

The guarantees stay those of the Faust agent:

* **At least once.** A batch's offsets are committed only after its decisions are stored in
  Redis and acknowledged by the broker; a crash re-reads at most the uncommitted tail, and the
  stored decisions make the replay publish the same events (the same event ids, which the
  ledger's workers drop).
* **Rebalances.** The listener waits for the batch in hand and commits it before partitions
  move, so two agents never decide the same batch at once and nothing is lost.
* **No new topic.** It reads ``payments`` and writes ``decisions``, in group ``risk.app_id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from paystream.bus.kafka import event_record, new_producer
from paystream.contracts import TOPICS
from paystream.contracts.events import PaymentAuthorized
from paystream.retry import retrying
from paystream.settings import Settings
from paystream.stores.progress import progress_field
from risk.intake import authorizations
from risk.scorer import RiskScorer, ScoredBatch
from risk.stages import STAGE_SECONDS, StageClock

log = logging.getLogger(__name__)

PROJECTION_WAITS = Counter(
    "paystream_risk_projection_waits_total",
    "Times a batch waited for the state projection to reach its event time",
)
# How often a waiting batch looks again: the projection writes a batch in tens of ms.
PROJECTION_POLL_S = 0.05


def observe_consume_wait(records: list[ConsumerRecord[bytes, bytes]]) -> None:
    """Observe each record's wait from the producer's create time to the agent taking it."""
    # The timestamp is the producer's create time in ms: the wait covers the broker, the
    # fetch and anything buffered, as the payment experiences them.
    now_ms = time.time() * 1000
    stage = STAGE_SECONDS.labels("consume_wait")
    for record in records:
        stage.observe(max(now_ms - record.timestamp, 0.0) / 1000)


class _Committer(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds the offsets of finished batches and commits them before partitions move."""

    def __init__(self, busy: asyncio.Lock) -> None:
        self.consumer: AIOKafkaConsumer | None = None
        self.busy = busy
        self.done: dict[TopicPartition, int] = {}

    def finished(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Mark a batch's records decided: the next commit covers them."""
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            self.done[tp] = max(self.done.get(tp, 0), r.offset + 1)

    async def commit(self) -> None:
        """Commit every finished offset that is still assigned to this agent."""
        if self.consumer is None or not self.done:
            return
        owned = self.consumer.assignment()
        offsets = {tp: OffsetAndMetadata(o, "") for tp, o in self.done.items() if tp in owned}
        self.done.clear()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance under way: keep the offsets; the listener or the next commit
            # covers them (for partitions still ours). Re-reading them is harmless.
            log.warning("risk offsets not committed yet (%s); retrying", exc)
            for tp, meta in offsets.items():
                self.done[tp] = max(self.done.get(tp, 0), meta.offset)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Wait for the batch in hand, then commit it while the partitions are still ours.
        async with self.busy:
            await self.commit()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("risk agent assigned %d partitions", len(assigned))


async def decide_forever(
    settings: Settings, scorer: RiskScorer, on_fatal: Callable[[int], NoReturn]
) -> None:
    """Consume payments and decide them until cancelled.

    ``on_fatal(code)`` ends the process without committing: a batch is never left half-done
    (75 on cancellation mid-batch, 70 on an unrecoverable error), and the restart re-reads it.
    """
    kafka, risk = settings.kafka, settings.risk
    busy = asyncio.Lock()
    committer = _Committer(busy)
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=risk.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # The broker answers as soon as one byte is there; this is only the idle long poll.
        fetch_min_bytes=1,
        fetch_max_wait_ms=risk.fetch_max_wait_ms,
        max_partition_fetch_bytes=1_048_576,
    )
    committer.consumer = consumer
    consumer.subscribe([kafka.topic("payments")], listener=committer)
    sources = SourceEnds(settings, consumer)
    # A plain producer that sends each record at once: each batch waits for its own acks.
    producer = new_producer(kafka, low_latency=True)
    await consumer.start()
    await producer.start()
    marking: set[asyncio.Task[None]] = set()
    last_commit = time.monotonic()
    committing: asyncio.Task[None] | None = None
    try:
        while True:
            found = await consumer.getmany(
                timeout_ms=risk.fetch_max_wait_ms, max_records=risk.batch_size
            )
            records = [r for rs in found.values() for r in rs]
            if records:
                async with busy:
                    try:
                        await _decide(settings, scorer, producer, records, marking, sources)
                    except asyncio.CancelledError:
                        log.warning("stopped mid-batch; exiting uncommitted (re-read on restart)")
                        on_fatal(75)
                    except Exception:
                        log.critical(
                            "unrecoverable risk batch error; exiting uncommitted", exc_info=True
                        )
                        on_fatal(70)
                    committer.finished(records)
            if time.monotonic() - last_commit >= risk.commit_interval_s and (
                committing is None or committing.done()
            ):
                # In the background: a commit is a broker round trip the next batch need
                # not wait for. One at a time, so offsets only move forward.
                committing = asyncio.create_task(committer.commit())
                last_commit = time.monotonic()
    finally:
        if committing is not None:
            await asyncio.gather(committing, return_exceptions=True)
        await asyncio.gather(*marking, return_exceptions=True)
        # A clean stop commits what it decided; an exit above never gets here.
        await committer.commit()
        await producer.stop()
        await consumer.stop()


class SourceEnds:
    """Where, in each partition the state projection reads, the events produced before a
    batch end: what the projection must have read before a history's batch is decided."""

    def __init__(self, settings: Settings, consumer: Any) -> None:
        kafka = settings.kafka
        self.consumer = consumer
        # The domain topics (the projection's change-feed input carries no feature state).
        self.partitions = [
            TopicPartition(kafka.topic(topic), p)
            for topic in TOPICS
            for p in range(kafka.partitions)
        ]

    async def before(self, produced_ms: int) -> dict[str, int]:
        """Per partition, the first offset produced after ``produced_ms`` (the batch's newest
        create time), or the end offset where nothing was produced since."""
        # Create times are in ms and a full-speed producer sends many records per ms: the
        # bound is the first record of the *next* ms, so nothing of the batch's ms is left out.
        after = produced_ms + 1
        found = await self.consumer.offsets_for_times(dict.fromkeys(self.partitions, after))
        bounds = {tp: at.offset for tp, at in found.items() if at is not None}
        quiet = [tp for tp in self.partitions if tp not in bounds]
        if quiet:
            ends = await self.consumer.end_offsets(quiet)
            bounds.update({tp: int(offset) for tp, offset in ends.items()})
        return {progress_field(tp.topic, tp.partition): o for tp, o in bounds.items()}


async def _score_when_projected(
    settings: Settings,
    scorer: RiskScorer,
    batch: list[PaymentAuthorized],
    sources: SourceEnds | None = None,
    produced_ms: int | None = None,
) -> ScoredBatch:
    """Score the batch once the state projection has reached it, or its wait is over.

    A historical batch waits while the projection makes progress toward it; it is decided
    anyway once the projection has not moved for ``risk.projection_wait_s`` (an outage
    degrades the features, it never stops decisions). A live batch never waits.
    """
    score = retrying("risk")(scorer.score)
    ends = None
    if sources is not None and produced_ms is not None and scorer.is_history(batch):
        ends = await sources.before(produced_ms)
    deadline = time.monotonic() + settings.risk.projection_wait_s
    waited, waits, seen = StageClock(), 0, None
    while True:
        clock = StageClock()
        patient = time.monotonic() < deadline
        result: ScoredBatch = await asyncio.to_thread(score, batch, patient, ends)
        # The scorer lapped its own stages; what is left is the hop there and back.
        STAGE_SECONDS.labels("thread_hop").observe(max(clock.elapsed_s - result.elapsed_s, 0.0))
        if not result.behind:
            if waits:
                stage = STAGE_SECONDS.labels("projection_wait")
                stage.observe(waited.elapsed_s - clock.elapsed_s)
            return result
        waits += 1
        PROJECTION_WAITS.inc()
        if result.progress != seen:
            # Still moving: the wait restarts; only a stalled projection ends it.
            seen = result.progress
            deadline = time.monotonic() + settings.risk.projection_wait_s
        await asyncio.sleep(PROJECTION_POLL_S)


async def _decide(
    settings: Settings,
    scorer: RiskScorer,
    producer: Any,
    records: list[ConsumerRecord[bytes, bytes]],
    marking: set[asyncio.Task[None]],
    sources: SourceEnds | None = None,
) -> None:
    batch = authorizations([r.value for r in records if r.value is not None])
    if not batch:
        return
    observe_consume_wait(records)
    produced_ms = max(r.timestamp for r in records)
    result = await _score_when_projected(settings, scorer, batch, sources, produced_ms)
    clock = StageClock()
    kafka, wire = settings.kafka, result.wire
    pending = []
    for d in result.to_publish:
        r = event_record(kafka, d, wire.get(d.payment_id))
        pending.append(await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)))
    await asyncio.gather(*pending)
    clock.lap("publish")
    if result.to_publish:
        # The flag only spares a replay from re-publishing (the same event id, which
        # consumers drop), so it is not worth holding the batch for.
        ids = [d.payment_id for d in result.to_publish]
        task = asyncio.create_task(asyncio.to_thread(scorer.redis.mark_published, ids))
        marking.add(task)
        task.add_done_callback(marking.discard)
