"""``paystream lakehouse run``: one Spark session that keeps bronze, silver and gold fresh.

Every ``refresh_interval_s`` (30 s by default) the service runs one refresh:

1. **Bronze and silver events.** When Kafka's end offsets moved, the bronze query (Structured
   Streaming, ``availableNow``) lands the new records and the silver query validates them,
   quarantining the bad ones with their reason. Both resume from their checkpoints, so a
   refresh killed mid-batch is redone from the last committed micro-batch: no gap, no
   duplicate.
2. **Silver ledger and gold.** When the replica's change marks moved (one indexed query),
   the ledger tables are pulled incrementally and gold MERGEs only the slices they touch
   (:mod:`lakehouse.gold.incremental`). Gold's inputs are the ledger tables, so this is the
   step that decides gold's freshness.
3. **Freshness.** The service stores a :class:`~paystream.contracts.freshness.GoldFreshness`
   in Redis and exports it as Prometheus gauges.

A refresh with nothing new starts no Spark job: an idle platform costs the service a few small
queries per interval. A refresh that fails (a store restarting) is logged, counted and
retried at the next interval; gold keeps what it had, and the freshness record says why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from lakehouse.jobs import BuildReport, StepResult, run_build
from paystream.contracts.freshness import GoldFreshness
from paystream.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.live.metrics import LiveMetrics

log = logging.getLogger(__name__)

# Indexed maxima only (processed_events.processed_at, payments.updated_at): the probe must
# stay cheap on a ledger of millions of rows. Decisions are recorded in processed_events by
# the ledger sink, so their arrival moves the first mark too.
LEDGER_MARKS_SQL = (
    "SELECT (SELECT MAX(processed_at) FROM processed_events) AS events, "
    "(SELECT MAX(updated_at) FROM payments) AS payments"
)
# The event types applied since a moment (an index range scan), to pull only their tables.
CHANGED_TYPES_SQL = "SELECT DISTINCT event_type FROM processed_events WHERE processed_at > :since"
#: Ledger tables an event type's family can change. A refund held for its payment is
#: applied by the payment's capture, so payment events can add refunds too.
TABLES_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "payment": ("payments", "refunds"),
    "refund": ("payments", "refunds"),
    "order": ("orders", "order_lines"),
    "customer": ("customers",),
    "merchant": ("merchants",),
    "risk": ("risk_decisions",),
}
# A ledger commit can carry a processed_at older than the newest one already seen (a slow
# transaction); the marks would not move for it. Every so often the service pulls every
# table (with the pull's own look-back) to pick such rows up, unless the ledger has been
# still since before the last full pull (see ``_full_pull_due``).
FULL_PULL_EVERY_S = 600.0


@dataclass(frozen=True)
class Marks:
    """What the sources held when a refresh started: Kafka's end offsets and the ledger's
    newest change times. Equal marks mean nothing new to refresh."""

    kafka: tuple[tuple[str, int], ...]
    ledger: tuple[datetime | None, ...]
    #: Ledger tables changed since the previous refresh's marks (None: unknown, pull all).
    tables: frozenset[str] | None = None

    @property
    def ledger_high(self) -> datetime | None:
        """The newest ledger change time (naive UTC, as the ledger stores it)."""
        known = [m for m in self.ledger if m is not None]
        return max(known) if known else None


@dataclass
class Refresh:
    """What one refresh did."""

    started_at: datetime
    steps: list[StepResult] = field(default_factory=list)
    events_skipped: bool = False
    gold_skipped: bool = False
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """One log line."""
        if self.error:
            return f"refresh failed after {self.seconds:.1f} s: {self.error}"
        done = "; ".join(f"{s.layer} {s.name}: {s.detail} ({s.seconds:.1f} s)" for s in self.steps)
        return f"refresh {self.seconds:.1f} s: {done or 'nothing new'}"


def kafka_marks(settings: Settings) -> tuple[tuple[str, int], ...]:
    """Records held per bronze topic (end minus beginning offsets)."""
    from lakehouse.bronze.kafka import bronze_topics
    from paystream.bus.kafka import topic_counts

    counts = asyncio.run(topic_counts(settings.kafka, bronze_topics(settings.kafka)))
    return tuple(sorted(counts.items()))


class LakehouseService:
    """Refreshes the lakehouse in one long-lived Spark session."""

    def __init__(
        self,
        settings: Settings,
        spark: SparkSession,
        *,
        metrics: LiveMetrics | None = None,
        graph: bool = False,
    ) -> None:
        from paystream.stores.mysql import replica_engine
        from paystream.stores.redis import RedisKeys, sync_client

        self.settings = settings
        self.spark = spark
        self.metrics = metrics
        self.graph = graph
        self._replica = replica_engine(settings.mysql)
        self._redis = sync_client(settings.redis)
        self._key = RedisKeys(settings.streams.namespace).gold_freshness
        self._done: Marks | None = None
        self._full_pull_at = time.monotonic()
        # The ledger's marks as last seen, and when they last moved.
        self._ledger_seen: tuple[datetime | None, datetime | None] | None = None
        self._ledger_moved_at = time.monotonic()
        self._events_at = time.monotonic()
        self._events_kafka: tuple[tuple[str, int], ...] | None = None
        self.last: GoldFreshness | None = None

    def close(self) -> None:
        """Release the replica's connection pool."""
        self._replica.dispose()

    def marks(self) -> Marks:
        """The sources' current marks (three cheap queries, no Spark job)."""
        from lakehouse.silver.ledger import LOOKBACK

        done = self._done
        with self._replica.connect() as conn:
            row = conn.execute(text(LEDGER_MARKS_SQL)).one()
            forced = self._full_pull_due((row.events, row.payments))
            tables: frozenset[str] | None = None
            high = done.ledger_high if done is not None else None
            if done is not None and high is not None and not forced:
                since = high - LOOKBACK
                types = conn.execute(text(CHANGED_TYPES_SQL), {"since": since}).scalars()
                tables = frozenset(
                    name
                    for event_type in types
                    for name in TABLES_BY_FAMILY.get(str(event_type).split(".")[0], ())
                )
                if row.payments != done.ledger[1]:
                    tables |= {"payments"}
        if forced:
            self._full_pull_at = time.monotonic()
        return Marks(
            kafka=kafka_marks(self.settings), ledger=(row.events, row.payments), tables=tables
        )

    def _full_pull_due(self, ledger: tuple[datetime | None, datetime | None]) -> bool:
        """Whether this refresh pulls every ledger table: every ``FULL_PULL_EVERY_S``, while
        a late commit is possible.

        A late commit is a transaction still open when the last full pull started; one that
        started after it and committed would have moved the marks. So with the marks still
        since a time more than the look-back (far above a transaction's length) before the
        last full pull started, nothing can be late, and an idle platform pays for no
        periodic full pull (27 s of Spark on 2 cores).
        """
        from lakehouse.silver.ledger import LOOKBACK

        now = time.monotonic()
        if ledger != self._ledger_seen:
            self._ledger_seen, self._ledger_moved_at = ledger, now
        if now - self._full_pull_at < FULL_PULL_EVERY_S:
            return False
        if self._full_pull_at - self._ledger_moved_at <= LOOKBACK.total_seconds():
            return True
        # Skipped as if pulled: a later move of the marks is after this time, so the next
        # check still asks for a real pull.
        self._full_pull_at = now
        return False

    def refresh(self) -> Refresh:
        """Run one refresh and record gold's freshness; never raises for a store's failure."""
        started = time.monotonic()
        result = Refresh(started_at=datetime.now(UTC))
        try:
            current = self.marks()
            self._refresh(current, result)
            self._done = current
            if not result.events_skipped:
                self._events_at, self._events_kafka = time.monotonic(), current.kafka
        except Exception as exc:  # a store restarting: retried next interval
            first = (str(exc).splitlines() or [""])[0][:300]
            result.error = f"{type(exc).__name__}: {first}"
            log.exception("lakehouse refresh failed")
        result.seconds = time.monotonic() - started
        self._record(result)
        return result

    def _refresh(self, current: Marks, result: Refresh) -> None:
        done = self._done
        interval = self.settings.lakehouse.events_refresh_interval_s
        events_due = time.monotonic() - self._events_at >= interval
        landed = self._events_kafka
        # Kafka's marks as of the last events refresh, not the last refresh: records that
        # arrived while events were not due are landed at the next due refresh.
        result.events_skipped = landed is not None and (landed == current.kafka or not events_due)
        result.gold_skipped = (
            done is not None and done.ledger == current.ledger and current.tables is not None
        )
        layers: list[str] = []
        if not result.events_skipped:
            layers.append("bronze")
        if not result.events_skipped or not result.gold_skipped:
            layers.append("silver")
        if not result.gold_skipped:
            layers.append("gold")
        if not layers:
            return
        report: BuildReport = run_build(
            self.settings,
            self.spark,
            layers=layers,
            graph=self.graph,
            steps=self._steps(result),
            ledger_tables=current.tables,
        )
        result.steps = report.steps

    def _steps(self, result: Refresh) -> Callable[[str], bool]:
        """Which silver steps run: events only when Kafka moved, the ledger only when the
        replica did (the build's layer list cannot say that)."""

        def wanted(name: str) -> bool:
            if name == "events":
                return not result.events_skipped
            if name == "ledger":
                return not result.gold_skipped
            return True

        return wanted

    def _record(self, result: Refresh) -> None:
        previous = self.last
        if result.error is None:
            high = self._done.ledger_high if self._done else None
            freshness = GoldFreshness(
                covers_until=result.started_at,
                refreshed_at=datetime.now(UTC),
                source_watermark=high.replace(tzinfo=UTC) if high else None,
                refresh_s=result.seconds,
            )
        else:
            # Gold still covers what the last good refresh covered.
            start = previous.covers_until if previous else datetime(1970, 1, 1, tzinfo=UTC)
            freshness = GoldFreshness(
                covers_until=start,
                refreshed_at=previous.refreshed_at if previous else start,
                source_watermark=previous.source_watermark if previous else None,
                refresh_s=result.seconds,
                status=f"failed: {result.error}",
            )
        self.last = freshness
        try:
            fields: dict[str | bytes, str] = {k: v for k, v in freshness.to_fields().items()}
            self._redis.hset(self._key, mapping=fields)
        except Exception:  # Redis down: the gauges still say it, the next refresh retries
            log.warning("could not store gold freshness in Redis", exc_info=True)
        if self.metrics is not None:
            self.metrics.observe(result, freshness)
        log.info(result.summary())

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Refresh every interval until ``stop`` is set (one refresh with ``once``)."""
        interval = self.settings.lakehouse.refresh_interval_s
        while not stop.is_set():
            started = time.monotonic()
            self.refresh()
            if once:
                return
            # A refresh longer than the interval starts the next one at once.
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
