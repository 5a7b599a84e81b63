"""The Faust apps: one per sink (ledger, Redis, graph), each its own consumer group.

The ledger app materializes every domain topic into MySQL, dead-letters bad records and
publishes the totals of each committed batch to the change feed. The projection apps read the
domain topics and the change feed. A slow or failed projection therefore never holds the
ledger back: it lags, and catches up from its own committed offsets.

Topic budget (Event Hubs Standard allows 10 event hubs per namespace, internal ones included):
six domain topics (the decisions topic among them), the dead-letter topic and the change
feed, and no Faust internals:
no tables (so no changelog topics), no ``group_by`` (so no repartition topics), and the
leader-election topic disabled. See ``docs/streams.md``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os

import faust

from paystream.bus.worker import faust_settings
from paystream.settings import Settings
from streams.changefeed import feed_records
from streams.groups import FEED, SinkName, group_id, sink_topics
from streams.pipeline import LedgerPipeline, ProjectionPipeline
from streams.validation import RawRecord

log = logging.getLogger(__name__)


#: Allocations between young-generation collections (CPython's default is 700). A batch of
#: 1,000 events allocates hundreds of thousands of short-lived objects, and with the default
#: the collector ran so often that it doubled the cost of parsing (profiled: a projection
#: worker spent 20.7 CPU-s on Online Retail with it, 14.3 s without it).
GC_GEN0_THRESHOLD = 50_000


def settle_heap() -> None:
    """Move everything alive at start-up (modules, clients) out of the collector's sight and
    make young collections rarer; called once a worker's clients exist."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)


async def write_batch(
    pipeline: LedgerPipeline | ProjectionPipeline,
    dead_letters: faust.TopicT,
    feed: faust.TopicT,
    records: list[RawRecord],
) -> None:
    """Write one batch to the pipeline's sink, then make what it publishes durable."""
    # The sinks block (SQL, Redis, Gremlin): run them off the event loop so that the consumer
    # keeps heart-beating during a long retry.
    result = await asyncio.to_thread(pipeline.process, records)
    pending = (
        [
            await dead_letters.send(key=letter.key(), value=letter.to_bytes())
            for letter in result.dead_letters
        ]
        if isinstance(pipeline, LedgerPipeline)
        else []
    )
    # The totals are read after the commit, so publishing them after a crash and a replay
    # sends the totals as they stand, never older ones.
    pending += [
        await feed.send(key=key, value=value)
        for key, value in feed_records(result.snapshot, result.partitions)
    ]
    # Dead letters and totals must be durable before the batch's offsets are acknowledged.
    for future in pending:
        await future
    log.debug("batch: %d events, %d dead", result.events, len(result.dead_letters))


def create_app(settings: Settings, sink: SinkName = "ledger") -> faust.App:
    """Build the Faust app of one sink. Its store connects when the agent starts."""
    app = faust.App(group_id(settings, sink), **faust_settings(settings))
    batch, within = settings.streams.batch_size, settings.streams.batch_within_s
    kafka = settings.kafka
    source = app.topic(*sink_topics(settings, sink), key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(kafka.topic("dlq"), key_serializer="raw", value_serializer="raw")
    feed = app.topic(kafka.topic(FEED), key_serializer="raw", value_serializer="raw")

    @app.agent(source, name=f"materialize-{sink}")
    async def materialize(stream: faust.StreamT[bytes]) -> None:
        from streams.wiring import build_pipeline

        # Clients are created once per worker process, when the agent starts.
        pipeline = await asyncio.to_thread(build_pipeline, settings, sink)
        settle_heap()
        try:
            # take_events is missing from Faust's StreamT type, not from Stream itself.
            async for events in stream.take_events(batch, within=within):  # type: ignore[attr-defined]
                records = [
                    RawRecord(e.message.topic, e.message.partition, e.message.offset, e.value)
                    for e in events
                ]
                # take_events() acknowledges the batch in a `finally:` on its way out, even when
                # the body raised or was cancelled (shutdown, rebalance). So nothing may leave
                # this body half-done: an error or a cancellation mid-batch exits hard, like a
                # crash, and the unacknowledged batch is re-read after a restart.
                try:
                    await write_batch(pipeline, dead_letters, feed, records)
                except asyncio.CancelledError:
                    log.warning("stopped mid-batch; exiting unacknowledged (re-read on restart)")
                    os._exit(75)
                except Exception:
                    # Transient sink failures are retried inside the pipeline; this is not one.
                    log.critical("unrecoverable batch error; exiting unacknowledged", exc_info=True)
                    os._exit(70)
        finally:
            await asyncio.to_thread(pipeline.close)

    return app
