"""One fault drill: steady load on an isolated world, a real failure, then reconciliation.

Workers run as supervised processes, as a Deployment would run them: one that exits is
restarted (and counted; the MySQL drill expects none, since workers must wait out an outage
rather than crash-loop). The load is re-sent chunk by chunk when the broker refuses it, which
may put an event on the topic twice: that is at-least-once delivery, and the reconciliation
proves the ledger still counts it once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text

from chaos.expected import count_excess, expected_from, money_diff
from compose.local.stack import LocalStack
from harness.worlds import StreamWorld
from paystream.bus.kafka import KafkaPublisher
from paystream.contracts.events import Event
from paystream.ledger.totals import Totals
from paystream.stores.mysql import Database
from streams.reconcile import reconcile

log = logging.getLogger(__name__)

CHUNK = 250


@dataclass
class DrillResult:
    """The row a drill contributes to the fault table."""

    scenario: str
    events_sent: int
    events_accounted: int = 0
    duplicates: int = 0
    money_diff_minor: int = 0
    recovery_s: float = 0.0
    worker_restarts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def events_lost(self) -> int:
        """Distinct events sent that the ledger never applied."""
        return self.events_sent - self.events_accounted

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing counted twice, money equal to the cent everywhere."""
        return self.events_lost == 0 and self.duplicates == 0 and self.money_diff_minor == 0


@dataclass
class Timeline:
    """Ledger progress sampled over the drill, read from the replica (it stays up)."""

    samples: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, start: float, end: float) -> float:
        """Events applied per second between two times."""
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def recovery(
        self, fault_start: float, fault_end: float, sent_by: Callable[[float], int]
    ) -> float:
        """Seconds from the end of the fault until throughput recovers: the 2 s rate is back
        to half the pre-fault rate, or the ledger has caught up with what was sent."""
        baseline = self.rate(fault_start - 10, fault_start)
        for t, n in self.samples:
            if t < fault_end:
                continue
            if n >= sent_by(t) or (baseline and self.rate(t, t + 2) >= baseline / 2):
                return round(max(0.0, t - fault_end), 1)
        return float("nan")


class Drill:
    """Runs load, supervision and sampling around one fault action."""

    def __init__(
        self,
        scenario: str,
        world: StreamWorld,
        stack: LocalStack,
        events: Sequence[Event],
        rate: float,
        workers: int = 2,
    ) -> None:
        self.scenario = scenario
        self.world = world
        self.stack = stack
        self.events = list(events)
        self.rate = rate
        self.workers = workers
        self.result = DrillResult(scenario, len({e.event_id for e in self.events}))
        self.timeline = Timeline()
        self.sent_at: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._supervise = True
        self.started = 0.0

    # -- load ----------------------------------------------------------------------------

    @property
    def load_seconds(self) -> float:
        """How long the steady load lasts."""
        return len(self.events) / self.rate

    def _publish(self) -> None:
        async def go() -> None:
            publisher: KafkaPublisher | None = None
            begin = time.monotonic()
            sent = 0
            while sent < len(self.events):
                due = begin + sent / self.rate
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                chunk = self.events[sent : sent + CHUNK]
                try:
                    if publisher is None:
                        publisher = KafkaPublisher(self.world.settings.kafka)
                        await publisher.__aenter__()
                    for event in chunk:
                        await publisher.publish(event)
                    await publisher.flush()
                except Exception as exc:  # the broker is down: wait, then send the chunk again
                    log.info("load paused: %s", exc)
                    if publisher is not None:
                        await _quietly(publisher.__aexit__(None, None, None))
                    publisher = None
                    await asyncio.sleep(1)
                    continue
                sent += len(chunk)
                self.sent_at.append((time.monotonic(), sent))
            if publisher is not None:
                await publisher.__aexit__(None, None, None)

        asyncio.run(go())

    def sent_by(self, moment: float) -> int:
        """Events acknowledged by the broker at a moment."""
        done = [n for t, n in self.sent_at if t <= moment]
        return max(done, default=0)

    # -- supervision and sampling --------------------------------------------------------

    def _watch(self) -> None:
        replica = Database(self.world.settings.mysql)
        try:
            while not self._stop.is_set():
                try:
                    with replica.read_session() as session:
                        n = int(
                            session.execute(
                                text("SELECT COUNT(*) FROM processed_events")
                            ).scalar_one()
                        )
                    self.timeline.samples.append((time.monotonic(), n))
                except Exception as exc:  # sampling is best effort: the replica may blink
                    log.debug("progress sample skipped: %s", exc)
                if self._supervise:
                    for proc in list(self.world.workers):
                        if proc.poll() is not None and proc.pid not in self.world.killed:
                            self.world.killed.add(proc.pid)
                            self.result.worker_restarts += 1
                            log.warning(
                                "worker %d exited (%s); restarting", proc.pid, proc.returncode
                            )
                            self.world.start_worker()
                time.sleep(0.5)
        finally:
            replica.dispose()

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        """Worker processes that are running."""
        return [p for p in self.world.workers if p.poll() is None]

    # -- the drill -----------------------------------------------------------------------

    def run(self, fault: Callable[[Drill], tuple[float, float]]) -> DrillResult:
        """Start workers and load, inject ``fault`` (returns its start and end), reconcile."""
        for _ in range(self.workers):
            self.world.start_worker()
        self.world.wait_caught_up(120)
        watcher = threading.Thread(target=self._watch, daemon=True)
        watcher.start()
        loader = threading.Thread(target=self._publish, daemon=True)
        self.started = time.monotonic()
        loader.start()
        fault_start, fault_end = fault(self)
        loader.join()
        try:
            self.world.wait_caught_up(900)
        finally:
            self._stop.set()
            watcher.join()
        self.result.recovery_s = self.timeline.recovery(fault_start, fault_end, self.sent_by)
        self._reconcile()
        return self.result

    def at(self, fraction: float) -> None:
        """Sleep until ``fraction`` of the load's duration has passed."""
        time.sleep(max(0.0, self.started + fraction * self.load_seconds - time.monotonic()))

    def _reconcile(self) -> None:
        from streams.sinks.redis_state import RedisStateSink

        expected = expected_from(self.events)
        database = Database(self.world.settings.mysql)
        redis_sink = RedisStateSink(
            self.world.settings.redis, namespace=self.world.settings.streams.namespace
        )
        try:
            with database.writer.connect() as conn:
                self.result.events_accounted = int(
                    conn.execute(text("SELECT COUNT(*) FROM processed_events")).scalar_one()
                )
                rows = conn.execute(
                    text(
                        "SELECT currency, SUM(captured_minor), SUM(captured_count), "
                        "SUM(refunded_minor), SUM(refund_count) FROM balances "
                        "WHERE owner_kind = 'merchant' GROUP BY currency"
                    )
                ).all()
            ledger = {r[0]: Totals(*(int(v) for v in r[1:])) for r in rows}
            stores = reconcile(database, redis_sink)
            self.result.duplicates = count_excess(ledger, expected.money)
            self.result.money_diff_minor = money_diff(ledger, expected.money) + money_diff(
                stores.ledger_money, stores.redis_money
            )
            self.result.notes += stores.mismatches[:5]
            if not _replica_reaches(database, self.result.events_accounted, timeout_s=120):
                self.result.notes.append("the replica did not catch up with the primary")
        finally:
            redis_sink.close()
            database.dispose()


def _replica_reaches(database: Database, count: int, timeout_s: float) -> bool:
    """Wait until the replica holds ``count`` processed events: it caught up after the drill."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with database.read_session() as session:
            n = int(session.execute(text("SELECT COUNT(*) FROM processed_events")).scalar_one())
        if n >= count:
            return True
        time.sleep(0.5)
    return False


async def _quietly(awaitable: object) -> None:
    try:
        await awaitable  # type: ignore[misc]
    except Exception:  # a dead connection has nothing left to report
        return


def kill_points(rng: random.Random, count: int) -> list[float]:
    """``count`` random moments between 10 % and 80 % of the load, in order."""
    return sorted(rng.uniform(0.1, 0.8) for _ in range(count))
