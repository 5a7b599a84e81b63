"""One batch through the sinks: validate → dead letters → ledger → Redis → graph.

Ordering gives the delivery guarantee. The caller acknowledges the batch's offsets only after
:meth:`Pipeline.process` returns, and it returns only when every sink has written. A failure
in a sink is retried with backoff, without acking, until the sink comes back; a killed worker
re-reads the unacknowledged batch, and the idempotent sinks absorb the repeat.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from tenacity import (
    RetryCallState,
    before_sleep_log,
    retry,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from paystream.contracts.deadletter import DeadLetter
from paystream.errors import ServiceUnavailableError
from streams.sinks.ledger import LedgerSink
from streams.sinks.port import Envelope, LedgerSnapshot, Projection
from streams.validation import RawRecord, validate

log = logging.getLogger(__name__)

EVENTS = MetricCounter("paystream_stream_events_total", "Events processed", ["event_type"])
DEAD = MetricCounter("paystream_stream_dead_letters_total", "Records dead-lettered", ["reason"])
SINK_SECONDS = Histogram("paystream_sink_seconds", "Time per batch and sink", ["sink"])
RETRIES = MetricCounter("paystream_sink_retries_total", "Sink write retries", ["sink"])

# Errors worth waiting out: a store restarting, a deadlock, a dropped connection.
TRANSIENT = (
    DBAPIError,
    RedisError,
    ServiceUnavailableError,
    ConnectionError,
    OSError,
    TimeoutError,
)


@dataclass
class BatchResult:
    """What one batch did."""

    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)


def retrying(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Retry a sink write on transient errors, forever, with capped exponential backoff."""
    warn = before_sleep_log(log, logging.WARNING)

    def before_sleep(state: RetryCallState) -> None:
        RETRIES.labels(name).inc()
        warn(state)

    return retry(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential_jitter(initial=0.2, max=15),
        before_sleep=before_sleep,
        reraise=True,
    )


class Pipeline:
    """Validates a batch of raw records and writes it to every sink."""

    def __init__(self, ledger: LedgerSink, projections: Sequence[Projection]) -> None:
        self.ledger = ledger
        self.projections = list(projections)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.projections)), thread_name_prefix="projection"
        )

    def process(self, records: Sequence[RawRecord]) -> BatchResult:
        """Write one batch to every sink; returns only when all of them succeeded."""
        result = BatchResult()
        valid: list[Envelope] = []
        for record in records:
            outcome = validate(record)
            if isinstance(outcome, DeadLetter):
                result.dead_letters.append(outcome)
                DEAD.labels(outcome.reason).inc()
            else:
                valid.append(outcome)
                result.by_type[outcome.event.event_type] += 1
        result.events = len(valid)
        if not valid:
            return result
        started = time.perf_counter()
        snapshot = retrying("ledger")(self.ledger.write)(valid)
        result.seconds["ledger"] = time.perf_counter() - started
        SINK_SECONDS.labels("ledger").observe(result.seconds["ledger"])
        # The projections are independent of each other: write them side by side, so the
        # graph's server-side time overlaps Redis's. Each retries on its own.
        futures = {
            projection.name: self._pool.submit(self._project, projection, valid, snapshot)
            for projection in self.projections
        }
        for name, future in futures.items():
            result.seconds[name] = future.result()
        for event_type, count in result.by_type.items():
            EVENTS.labels(event_type).inc(count)
        return result

    @staticmethod
    def _project(projection: Projection, valid: list[Envelope], snapshot: LedgerSnapshot) -> float:
        started = time.perf_counter()
        retrying(projection.name)(projection.apply)(valid, snapshot)
        seconds = time.perf_counter() - started
        SINK_SECONDS.labels(projection.name).observe(seconds)
        return seconds

    def close(self) -> None:
        """Release every sink's connections."""
        for projection in self.projections:
            projection.close()
        self._pool.shutdown(wait=True)
        self.ledger.database.dispose()
