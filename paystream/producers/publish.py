"""Publishing a producer's events to Kafka: the Online Retail replay and the simulator.

Plain functions, shared by the CLI, the demo, the benchmarks and the tests. Progress is
reported through an optional Rich ``Progress`` or a callback, so callers choose the display.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from paystream.contracts.events import Event, PaymentAuthorized, PaymentFailed, RefundIssued
from paystream.producers import simulate as sim
from paystream.producers.online_retail import ReplaySummary, replay_events
from paystream.settings import REPO_ROOT, KafkaSettings

DEFAULT_FILE = REPO_ROOT / "data" / "online-retail" / "online_retail.csv.gz"

Pair = tuple[Event, sim.FraudLabel | None]


class Pacer:
    """Keeps a steady rate: sleeps so that ``n`` events never run ahead of ``n / rate``."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()

    async def wait(self, sent: int) -> None:
        """Pause until event number ``sent`` is due."""
        if not self.rate:
            return
        due = self.started + sent / self.rate
        delay = due - time.monotonic()
        if delay > 0.002:
            await asyncio.sleep(delay)


async def run_online_retail(
    settings: KafkaSettings,
    path: Path,
    rate: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> tuple[ReplaySummary, float]:
    """Publish the file's events and routed lines; return the summary and seconds taken."""
    from paystream.bus.kafka import KafkaPublisher, ensure_topics
    from paystream.bus.port import Message

    # The clock starts before parsing: the figure is the whole replay, file to broker.
    started = time.perf_counter()
    summary = ReplaySummary()
    expected, events, routed = replay_events(path, summary, limit)
    task = progress.add_task("replaying", total=expected + len(routed)) if progress else None
    if dry_run:
        if progress is not None and task is not None:
            progress.advance(task, len(routed))
        for _ in events:
            if progress is not None and task is not None:
                progress.advance(task)
        return summary, 0.0

    await ensure_topics(settings)
    pacer = Pacer(rate)
    async with KafkaPublisher(settings) as publisher:
        dlq = settings.topic("dlq")
        for n, item in enumerate(routed):
            letter = item.dead_letter()
            await publisher.send(Message(dlq, letter.key(), letter.to_bytes()))
            await pacer.wait(n)
        if progress is not None and task is not None:
            progress.advance(task, len(routed))
        for n, event in enumerate(events, start=len(routed)):
            await publisher.publish(event)
            await pacer.wait(n)
            if progress is not None and task is not None and n % 500 == 0:
                progress.update(task, completed=n)
        await publisher.flush()
        if progress is not None and task is not None:
            progress.update(task, completed=publisher.stats.sent)
    return summary, time.perf_counter() - started


@dataclass
class SimulationSummary:
    """Running totals over a stream of simulated events."""

    events: Counter[str] = field(default_factory=Counter)
    payments: int = 0
    failed: int = 0
    fraud_payments: Counter[str] = field(default_factory=Counter)
    authorized_minor: Counter[str] = field(default_factory=Counter)  # by currency
    refunds: Counter[str] = field(default_factory=Counter)  # by reason

    def add(self, event: Event, label: sim.FraudLabel | None) -> None:
        """Account for one ``(event, label)`` pair."""
        self.events[event.event_type] += 1
        if isinstance(event, PaymentAuthorized):
            self.payments += 1
            self.authorized_minor[event.amount.currency] += event.amount.amount_minor
        elif isinstance(event, PaymentFailed):
            self.failed += 1
        elif isinstance(event, RefundIssued):
            self.refunds[event.reason.value] += 1
        if label is not None:
            self.fraud_payments[label.pattern] += 1

    @property
    def total(self) -> int:
        """Number of events seen."""
        return sum(self.events.values())


async def run_simulation(
    settings: KafkaSettings,
    pairs: Iterable[Pair],
    rate: float | None,
    dry_run: bool,
    on_event: Callable[[Pair], None],
) -> float:
    """Publish every event (unless ``dry_run``) at ``rate``; return the seconds taken."""
    pacer = Pacer(rate)
    if dry_run:
        for n, pair in enumerate(pairs):
            await pacer.wait(n)
            on_event(pair)
        return time.monotonic() - pacer.started
    # Imported here so that a dry run works without the Kafka client's dependencies.
    from paystream.bus.kafka import KafkaPublisher, ensure_topics

    await ensure_topics(settings)
    pacer = Pacer(rate)
    async with KafkaPublisher(settings) as publisher:
        for n, pair in enumerate(pairs):
            await pacer.wait(n)
            await publisher.publish(pair[0])
            on_event(pair)
    return time.monotonic() - pacer.started
