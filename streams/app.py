"""The Faust app: one agent that materializes every domain topic into the sinks.

Topic budget (Event Hubs Standard allows 10 event hubs per namespace, internal ones included):
five domain topics, the dead-letter topic and the decisions topic, and no Faust internals:
no tables (so no changelog topics), no ``group_by`` (so no repartition topics), and the
leader-election topic disabled. See ``docs/streams.md``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

import faust

from paystream.contracts import TOPICS
from paystream.settings import Settings
from streams.pipeline import Pipeline
from streams.validation import RawRecord

log = logging.getLogger(__name__)


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust app settings for the local broker or Event Hubs, from paystream settings."""
    kafka = settings.kafka
    options: dict[str, Any] = {
        "broker": [f"kafka://{host.strip()}" for host in kafka.bootstrap_servers.split(",")],
        "store": "memory://",
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": 1,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        "broker_max_poll_records": settings.streams.batch_size,
        "producer_acks": -1,
        "processing_guarantee": "at_least_once",
        "web_enabled": False,
        "consumer_connections_max_idle_ms": kafka.connections_max_idle_ms,
        "producer_connections_max_idle_ms": kafka.connections_max_idle_ms,
        "consumer_metadata_max_age_ms": kafka.metadata_max_age_ms,
        "producer_metadata_max_age_ms": kafka.metadata_max_age_ms,
        "broker_request_timeout": max(kafka.request_timeout_ms / 1000, 90.0),
        "producer_request_timeout": kafka.request_timeout_ms / 1000,
        # On a rebalance, finish the batch in hand before the partition moves to another
        # worker, so two workers never write the same batch at once.
        "stream_wait_empty": True,
        "producer_max_request_size": 1_000_000,
    }
    if kafka.profile == "eventhubs":
        assert kafka.connection_string is not None
        options["broker_credentials"] = faust.SASLCredentials(
            username="$ConnectionString",
            password=kafka.connection_string.get_secret_value(),
            ssl_context=ssl.create_default_context(),
            mechanism="PLAIN",
        )
    return options


async def write_batch(
    pipeline: Pipeline, dead_letters: faust.TopicT, records: list[RawRecord]
) -> None:
    """Write one batch to every sink, then make its dead letters durable."""
    # The sinks block (SQL, Redis, Gremlin): run them off the event loop so that the consumer
    # keeps heart-beating during a long retry.
    result = await asyncio.to_thread(pipeline.process, records)
    pending = [
        await dead_letters.send(key=letter.key(), value=letter.to_bytes())
        for letter in result.dead_letters
    ]
    # Dead letters must be durable before the batch's offsets are acknowledged.
    for future in pending:
        await future
    log.debug("batch: %d events, %d dead", result.events, len(result.dead_letters))


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app and its materializing agent. Sinks connect when the agent starts."""
    app = faust.App(settings.streams.app_id, **faust_settings(settings))
    batch, within = settings.streams.batch_size, settings.streams.batch_within_s
    kafka = settings.kafka
    source = app.topic(
        *[kafka.topic(t) for t in TOPICS], key_serializer="raw", value_serializer="raw"
    )
    dead_letters = app.topic(kafka.topic("dlq"), key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def materialize(stream: faust.StreamT[bytes]) -> None:
        from streams.wiring import build_pipeline

        # Clients are created once per worker process, when the agent starts.
        pipeline = await asyncio.to_thread(build_pipeline, settings)
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
                    await write_batch(pipeline, dead_letters, records)
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
