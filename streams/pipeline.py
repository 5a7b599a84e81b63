"""One batch through one sink: the ledger, or a projection (Redis, the graph).

Each sink runs in its own consumer group at its own pace (``docs/streams.md``):

* :class:`LedgerPipeline` validates a batch of domain records, sends bad ones to the dead
  letters, writes the rest to the ledger in one transaction and returns the totals the batch
  touched, which the caller publishes to the change feed (:mod:`streams.changefeed`).
* :class:`ProjectionPipeline` reads the same domain records plus the change feed, and applies
  the facts and the ledger's totals to one projection.

The caller acknowledges a batch's offsets only after ``process`` returns (and, for the ledger,
after its dead letters and change-feed records are durable). A failure in a sink is retried
with backoff, without acking, until the sink comes back; a killed worker re-reads the
unacknowledged batch, and the idempotent sinks absorb the repeat.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram

from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.events import PaymentEvent, RefundIssued
from paystream.retry import retrying
from streams.changefeed import merge_records
from streams.poison import bisect_write, is_deterministic
from streams.sinks.ledger import LedgerSink
from streams.sinks.port import Envelope, LedgerSnapshot, Projection
from streams.validation import RawRecord, validate

log = logging.getLogger(__name__)

EVENTS = MetricCounter("paystream_stream_events_total", "Events processed", ["sink", "event_type"])
DEAD = MetricCounter("paystream_stream_dead_letters_total", "Records dead-lettered", ["reason"])
SINK_SECONDS = Histogram("paystream_sink_seconds", "Time per batch and sink", ["sink"])


@dataclass
class BatchResult:
    """What one batch did."""

    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Totals the ledger batch touched, for the change feed (ledger only).
    snapshot: LedgerSnapshot = field(default_factory=LedgerSnapshot)
    #: Customer → payments-topic partition of its money events in this batch (ledger only).
    partitions: dict[str, int] = field(default_factory=dict)


def _validated(records: Sequence[RawRecord], result: BatchResult) -> list[Envelope]:
    valid: list[Envelope] = []
    for record in records:
        outcome = validate(record)
        if isinstance(outcome, DeadLetter):
            result.dead_letters.append(outcome)
        else:
            valid.append(outcome)
            result.by_type[outcome.event.event_type] += 1
    result.events = len(valid)
    return valid


class LedgerPipeline:
    """Validates a batch of domain records and writes it to the ledger."""

    name = "ledger"

    def __init__(self, ledger: LedgerSink) -> None:
        self.ledger = ledger

    def process(self, records: Sequence[RawRecord]) -> BatchResult:
        """Write one batch to the ledger; returns when it committed, with its totals."""
        result = BatchResult()
        valid = _validated(records, result)
        # Only the ledger's group publishes dead letters, so each bad record is counted once.
        for letter in result.dead_letters:
            DEAD.labels(letter.reason).inc()
        for item in valid:
            customer = getattr(item.event, "customer_id", None)
            if customer and isinstance(item.event, PaymentEvent | RefundIssued):
                result.partitions[customer] = item.partition
        if valid:
            started = time.perf_counter()
            write = retrying("ledger")(self.ledger.write)
            try:
                result.snapshot = write(valid)
            except Exception as exc:
                if not is_deterministic(exc):
                    raise
                # A poison record: find it, dead-letter it, apply the rest.
                result.snapshot, rejected = bisect_write(write, valid, exc)
                result.dead_letters.extend(rejected)
                result.events -= len(rejected)
                for letter in rejected:
                    DEAD.labels(letter.reason).inc()
            # Refused by a ledger rule (a refund beyond its capture, say): never booked.
            result.dead_letters.extend(result.snapshot.refused)
            result.events -= len(result.snapshot.refused)
            for letter in result.snapshot.refused:
                DEAD.labels(letter.reason).inc()
            result.seconds["ledger"] = time.perf_counter() - started
            SINK_SECONDS.labels("ledger").observe(result.seconds["ledger"])
        for event_type, count in result.by_type.items():
            EVENTS.labels("ledger", event_type).inc(count)
        return result

    def close(self) -> None:
        """Release the ledger's connections."""
        self.ledger.database.dispose()


class ProjectionPipeline:
    """Applies domain records and change-feed totals to one projection."""

    def __init__(self, projection: Projection, feed_topic: str) -> None:
        self.projection = projection
        self.name = projection.name
        self.feed_topic = feed_topic

    def process(self, records: Sequence[RawRecord]) -> BatchResult:
        """Apply one batch: the events' facts and the newest ledger totals it carries."""
        result = BatchResult()
        feed = [r.value for r in records if r.topic == self.feed_topic and r.value]
        domain = [r for r in records if r.topic != self.feed_topic]
        # Bad records are the ledger group's to dead-letter; here they are only skipped.
        valid = _validated(domain, result)
        snapshot = merge_records(feed)
        if valid or feed:
            started = time.perf_counter()
            retrying(self.name)(self.projection.apply)(valid, snapshot)
            result.seconds[self.name] = time.perf_counter() - started
            SINK_SECONDS.labels(self.name).observe(result.seconds[self.name])
        for event_type, count in result.by_type.items():
            EVENTS.labels(self.name, event_type).inc(count)
        return result

    def close(self) -> None:
        """Release the projection's connections."""
        self.projection.close()
