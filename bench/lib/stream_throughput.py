"""Throughput runs of the stream workers on a pre-loaded topic set (``bench.streams``).

One run starts the workers ``paystream streams run`` starts (ledger, Redis and graph sinks)
on an isolated world whose topics already hold the Online Retail log or a simulation, times
them from their first applied event until every sink's group caught up, and measures a plain
aiokafka consumer on the same topics as the reference.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from harness.worlds import StreamWorld, create_world
from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from ingest.simulator.foreign_csv import mapping_path
from ingest.simulator.generator import SimulationConfig, simulate
from ingest.transactions.importer import ImportPlan, run_import
from paystream.datasets.transactions import load_mapping
from paystream.settings import REPO_ROOT, KafkaSettings, Settings
from streams.groups import SINKS
from streams.sinks.graph import GremlinGraphSink

LOGS = REPO_ROOT / ".stack" / "bench" / "streams"
METRICS_PORT = 9477


async def raw_consume_rate(kafka: KafkaSettings, topics: list[str], expected: int) -> float:
    """Records/s of a plain aiokafka consumer reading ``topics`` from the beginning."""
    consumer = AIOKafkaConsumer(
        *topics,
        **kafka.client_options(),
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batch and not started:
                started = time.perf_counter()
            seen += sum(len(records) for records in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def sink_seconds() -> dict[str, float]:
    """Total seconds per sink from the sink workers' Prometheus endpoints.

    ``paystream streams run --metrics-port N`` serves sink i (ledger, redis, graph) on N + i.
    """
    seconds: dict[str, float] = {}
    for offset in range(len(SINKS)):
        url = f"http://127.0.0.1:{METRICS_PORT + offset}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        for line in body.splitlines():
            if line.startswith("paystream_sink_seconds_sum"):
                sink = line.split('sink="')[1].split('"')[0]
                seconds[sink] = seconds.get(sink, 0.0) + float(line.rsplit(" ", 1)[1])
    return seconds


@dataclass
class Throughput:
    """One pre-loaded run of the stream, timed from its first applied event."""

    end_to_end: float  # events/s until every sink's group caught up
    ledger: float  # events/s until the ledger applied the last event
    raw: float  # records/s of a plain aiokafka consumer on the same topics
    seconds: float  # first applied event to every sink caught up
    profile: dict[str, float]
    graph_elements: int  # vertices and edges in the graph afterwards
    events: int  # events applied in the timed part


def throughput_run(
    settings: Settings, dataset: str, limit: int | None = 120_000, history: Path | None = None
) -> Throughput:
    """One pre-loaded run with the workers `paystream streams run` starts (all three sinks).

    ``dataset`` is ``retail`` (the Online Retail log), ``synthetic`` (``paystream simulate``)
    or ``history`` (the first ``limit`` rows of a labelled history CSV through ``paystream
    import transactions``: thousands of merchants, one payment per customer-merchant pair).
    """
    world = create_world(settings, LOGS)
    try:
        if dataset == "history":
            assert history is not None, "a history dataset needs its CSV"
            expected = _publish_history(world, history, limit)
        elif dataset == "retail":
            summary, _ = asyncio.run(
                run_online_retail(world.settings.kafka, DEFAULT_FILE, limit=limit)
            )
            expected = sum(summary.events.values())
        else:
            config = SimulationConfig(seed=int(time.time()), customers=800, days=7)
            events = [event for event, _ in simulate(config)]
            world.publish(events)
            expected = len({e.event_id for e in events})
        raw = asyncio.run(raw_consume_rate(world.settings.kafka, world.domain_topics, expected))
        world.start_worker(metrics_port=METRICS_PORT)
        first_at, first_count = _wait_first(world)
        # Some events may be dead-lettered (a simulated device id shaped like a card number),
        # so the ledger is done when its group has committed everything, not at a count.
        world.wait_caught_up(timeout_s=1800, sinks=("ledger",))
        expected = world.processed()
        ledger_done = time.monotonic()
        world.wait_caught_up(timeout_s=1800)
        done = time.monotonic()
        profile = sink_seconds()
        applied = expected - first_count
        graph = GremlinGraphSink(
            world.settings.gremlin, namespace=f"{world.settings.streams.namespace}:"
        )
        try:
            elements = sum(graph.counts().values())
        finally:
            graph.close()
        return Throughput(
            applied / (done - first_at),
            applied / (ledger_done - first_at),
            raw,
            done - first_at,
            profile,
            elements,
            applied,
        )
    finally:
        world.destroy()


def _publish_history(world: StreamWorld, path: Path, limit: int | None) -> int:
    # The file's first rows, mapped as the import maps them, with every worker stopped.
    plan = ImportPlan(load_mapping(mapping_path(path), {}))
    summary = asyncio.run(
        run_import(
            world.settings.kafka,
            path,
            plan,
            world.settings.risk.require_card_key(),
            limit=limit,
        )
    )
    return sum(summary.events.values())


def _wait_first(world: StreamWorld) -> tuple[float, int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = world.processed()
        if count:
            return time.monotonic(), count
        time.sleep(0.05)
    raise TimeoutError("the worker applied nothing in 120 s")
