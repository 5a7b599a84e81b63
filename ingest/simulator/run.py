"""A simulation run: the generator's events to Kafka, the fraud labels and the foreign CSV.

Plain functions, shared by ``paystream simulate``, the benchmarks and the tests. Progress is
reported through an optional Rich ``Progress`` or a callback, so callers choose the display.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from rich.progress import Progress

from ingest.publish import Pacer
from ingest.simulator import generator as sim
from ingest.simulator.foreign_csv import ForeignCsv
from paystream.contracts.events import Event, PaymentAuthorized, PaymentFailed, RefundIssued
from paystream.settings import KafkaSettings, Settings

Pair = tuple[Event, sim.FraudLabel | None]


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


@dataclass(frozen=True)
class SimulationRun:
    """What a finished run did: its totals, its time, and the files it wrote."""

    summary: SimulationSummary
    seconds: float
    dry_run: bool
    labels_out: Path | None  # None when no labels file was written
    foreign_csv: Path | None


def simulate_to_kafka(
    settings: Settings,
    config: sim.SimulationConfig,
    *,
    rate: float | None = None,
    limit: int | None = None,
    labels_out: Path | None = None,
    foreign_csv: Path | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SimulationRun:
    """Generate ``config``'s events (the first ``limit``), publish them unless ``dry_run``,
    and write the fraud labels and, if asked, the foreign CSV with its mapping.

    Labels go to ``labels_out`` (by default ``<stack home>/simulate/labels-<seed>.jsonl``;
    a dry run writes them only when ``labels_out`` is given), through a temporary file that
    replaces the real one only after a complete run. A ``progress`` display is started here,
    once the labels' folder exists.
    """
    write_labels = labels_out is not None or not dry_run
    if labels_out is None:
        labels_out = settings.stack.home / "simulate" / f"labels-{config.seed}.jsonl"
    pairs = islice(sim.simulate(config), limit)
    summary = SimulationSummary()
    partial = labels_out.with_name(labels_out.name + ".partial")
    if write_labels:
        partial.parent.mkdir(parents=True, exist_ok=True)
    total = limit or config.days * 24
    every = 1 if rate else 250  # a paced run is slow enough to redraw on every event
    try:
        with (
            progress if progress is not None else nullcontext(),
            partial.open("w") if write_labels else nullcontext() as labels,
            ForeignCsv(foreign_csv) if foreign_csv else nullcontext() as foreign,
        ):
            task = progress.add_task("simulating", total=total, what="") if progress else None

            def on_event(pair: Pair) -> None:
                event, label = pair
                summary.add(event, label)
                if label is not None and labels is not None:
                    labels.write(label.to_json() + "\n")
                if foreign is not None:
                    foreign.add(event, label)
                if progress is not None and task is not None and summary.total % every == 0:
                    hours = (event.occurred_at - config.start).total_seconds() / 3600
                    done = summary.total if limit else min(hours, total)
                    what = f"{summary.total:,} events, day {int(hours // 24) + 1}"
                    progress.update(task, completed=done, what=what)

            seconds = asyncio.run(run_simulation(settings.kafka, pairs, rate, dry_run, on_event))
            if progress is not None and task is not None:
                progress.update(task, completed=total, what=f"{summary.total:,} events")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if write_labels:
        partial.replace(labels_out)
    return SimulationRun(
        summary, seconds, dry_run, labels_out if write_labels else None, foreign_csv
    )
