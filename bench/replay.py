"""Benchmark: the full Online Retail replay into Kafka beside Kafka's own producer tool.

Figure ``replay.online_retail_events_per_s``: records published per second for the whole file
(parsing, validation, serialization and acknowledged sends with ``acks=all``), against
``org.apache.kafka.tools.ProducerPerformance`` sending the same number of records of the same
average size to the same broker, alternating, in the same run.

    python -m bench.replay --runs 3
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from bench.lib.replay_run import replay_once
from compose.local import install
from compose.local.stack import LocalStack
from ingest.online_retail.replay import DEFAULT_FILE
from paystream.bus.kafka import drop_topics, ensure_topics
from paystream.settings import KafkaSettings, get_settings

console = Console()


def mean_record_size(limit: int | None) -> int:
    """Mean wire size of the replay's records, for a like-for-like perf-tool run."""
    from ingest.online_retail.events import ReplaySummary, replay_events

    _, events, routed = replay_events(DEFAULT_FILE, ReplaySummary(), limit)
    sizes = [len(e.to_bytes()) for e in events] + [len(r.dead_letter().to_bytes()) for r in routed]
    return round(sum(sizes) / len(sizes))


def producer_perf(base: KafkaSettings, records: int, size: int) -> float:
    """Kafka's ProducerPerformance on a fresh topic; return records/s."""
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(base, [topic]))
    cache = get_settings().stack.cache
    argv = [
        install.which("java") or "java",
        "-Xmx512m",
        "-cp",
        install.classpath(cache, "kafka"),
        "-Dlog4j.configuration=file:/dev/null",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={base.bootstrap_servers}",
        "acks=all",
        "linger.ms=10",
        "batch.size=524288",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    asyncio.run(drop_topics(base, [topic]))
    matches = re.findall(r"(\d+) records sent, ([0-9.]+) records/sec", out)
    return float(matches[-1][1])


def main(
    runs: Annotated[int, typer.Option(help="Measured runs of each side.")] = 3,
    limit: Annotated[int | None, typer.Option(help="Replay only the first N lines.")] = None,
) -> None:
    """Measure replay.online_retail_events_per_s beside Kafka's ProducerPerformance."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    kafka = settings.kafka
    size = mean_record_size(limit)
    console.log(f"mean record size of the replay: {size} bytes")
    console.log("warm-up: a short replay and a short perf-tool run (JVM and broker warm)")
    replay_once(kafka, 20_000)
    producer_perf(kafka, 20_000, size)
    ours: list[float] = []
    theirs: list[float] = []
    records = 0
    for run in range(1, runs + 1):
        rate, records = replay_once(kafka, limit)
        ours.append(rate)
        theirs.append(producer_perf(kafka, records, size))
        console.log(f"run {run}: replay {ours[-1]:,.0f}/s, ProducerPerformance {theirs[-1]:,.0f}/s")
    command = f"python -m bench.replay --runs {runs}" + (f" --limit {limit}" if limit else "")
    write(
        "Replay into Kafka",
        [
            Figure(
                figure="replay.online_retail_events_per_s",
                unit="events/s",
                runs=ours,
                command=command,
                reference_name="Kafka ProducerPerformance, same broker, same record count and size",
                reference_runs=theirs,
            )
        ],
        notes=(
            f"The replay publishes {records:,} records (events plus routed lines to the "
            "dead-letter topic) for the whole file, timed from opening the file to the last "
            "acknowledgement (`acks=all`). ProducerPerformance sends the same number of "
            f"{size}-byte records with `acks=all`, `linger.ms=10`, `batch.size=512 KiB`. "
            "Warm means the broker and JVM were started and one short run of each side was "
            "discarded."
        ),
    )


if __name__ == "__main__":
    typer.run(main)
