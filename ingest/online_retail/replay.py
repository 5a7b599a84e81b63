"""Publishing the Online Retail file to Kafka: ``paystream replay online-retail``.

A plain function, shared by the command, the demo, the benchmarks and the tests. Progress is
reported through an optional Rich ``Progress``, so callers choose the display.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.progress import Progress

from ingest.online_retail.events import ReplaySummary, replay_events
from ingest.publish import Pacer
from paystream.settings import REPO_ROOT, KafkaSettings

DEFAULT_FILE = REPO_ROOT / "data" / "online-retail" / "online_retail.csv.gz"


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
