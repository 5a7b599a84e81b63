"""Benchmarks of the stream workers, end to end through validation and all three sinks.

* ``streams.end_to_end_events_per_s`` (Online Retail replay) and
  ``streams.end_to_end_events_per_s_synthetic`` (``paystream simulate`` payments): events per
  second a worker applies to the ledger, Redis and the graph, measured from its first applied
  event to its last on a pre-loaded topic set. Reference: a plain aiokafka consumer reading
  the same topics from the beginning in the same run.
* ``streams.replica_visible_latency_p99_ms``: from handing a payment to the producer until its
  row is visible on the MySQL read replica, at a steady 2,000 events/s. Reference: the
  broker's own produce-to-consume round trip measured in the same run.
* A profile: the seconds each sink spent, from the worker's Prometheus metrics.

    python -m bench.streams --runs 3
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from sqlalchemy import bindparam, text

from bench.record import Figure, write
from compose.local.stack import LocalStack
from harness.worlds import StreamWorld, create_world
from paystream.bus.kafka import KafkaPublisher
from paystream.contracts import Event
from paystream.contracts.events import MerchantRegistered, PaymentAuthorized, event_id_for
from paystream.money import Money
from paystream.producers.publish import DEFAULT_FILE, Pacer, run_online_retail
from paystream.producers.simulate import SimulationConfig, simulate
from paystream.settings import REPO_ROOT, KafkaSettings, Settings, get_settings
from paystream.stores.mysql import Database
from streams.groups import SINKS
from streams.sinks.graph import GremlinGraphSink

console = Console()
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


def throughput_run(settings: Settings, dataset: str, limit: int | None = 120_000) -> Throughput:
    """One pre-loaded run with the workers `paystream streams run` starts (all three sinks)."""
    world = create_world(settings, LOGS)
    try:
        if dataset == "retail":
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
        world.wait_processed(expected, timeout_s=1800)
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


def _wait_first(world: StreamWorld) -> tuple[float, int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = world.processed()
        if count:
            return time.monotonic(), count
        time.sleep(0.05)
    raise TimeoutError("the worker applied nothing in 120 s")


def _payments(n: int, tag: str) -> list[Event]:
    at = datetime.now(UTC)
    events: list[Event] = [
        MerchantRegistered(
            event_id=event_id_for(tag, "m", m),
            occurred_at=at,
            merchant_id=f"{tag}-m{m}",
            name=f"merchant {m}",
            category="retail",
            country="Hong Kong",
            settlement_currency="HKD",
        )
        for m in range(20)
    ]
    events += [
        PaymentAuthorized(
            event_id=event_id_for(tag, "p", i),
            occurred_at=at,
            payment_id=f"{tag}-p{i}",
            customer_id=f"{tag}-c{i % 2000}",
            merchant_id=f"{tag}-m{i % 20}",
            amount=Money(amount_minor=1000 + i % 5000, currency="HKD"),
            card_fingerprint=f"{(i % 2000):032x}",
            device_id=f"{tag}-d{i % 2000}",
        )
        for i in range(n)
    ]
    return events


def latency_run(settings: Settings, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Produce payments at ``rate``/s; return (replica-visible ms, broker round-trip ms)."""
    world = create_world(settings, LOGS)
    tag = world.settings.streams.namespace
    try:
        world.start_worker()
        warm = _payments(2000, f"{tag}w")
        world.publish(warm)
        world.wait_processed(len(warm), timeout_s=300)
        events = _payments(int(rate * seconds), tag)[20:]
        sent_at: dict[str, float] = {}
        visible: dict[str, float] = {}
        broker: list[float] = []
        done = threading.Event()
        poller = threading.Thread(
            target=_poll_replica, args=(world, sent_at, visible, done), daemon=True
        )
        poller.start()
        asyncio.run(_produce_paced(world.settings.kafka, events, rate, sent_at, broker))
        deadline = time.monotonic() + 120
        while len(visible) < len(sent_at) and time.monotonic() < deadline:
            time.sleep(0.2)
        done.set()
        poller.join()
        latencies = [(visible[k] - sent_at[k]) * 1000 for k in visible]
        return latencies, broker
    finally:
        world.destroy()


async def _produce_paced(
    kafka: KafkaSettings,
    events: list[Event],
    rate: float,
    sent_at: dict[str, float],
    broker: list[float],
) -> None:
    # The broker's round trip is sampled by a plain consumer on the same topic.
    consumer = AIOKafkaConsumer(
        kafka.topic("payments"),
        **kafka.client_options(),
        auto_offset_reset="latest",
        group_id=f"bench-rt-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=500)
    stamps: dict[bytes, float] = {}

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    key = (record.value or b"")[:60]
                    if key in stamps:
                        broker.append((now - stamps.pop(key)) * 1000)

    reader = asyncio.create_task(consume())
    pacer = Pacer(rate)
    async with KafkaPublisher(kafka, max_in_flight=200) as publisher:
        for n, event in enumerate(events):
            await pacer.wait(n)
            assert isinstance(event, PaymentAuthorized)
            sent_at[event.payment_id] = time.monotonic()
            if n % 20 == 0:
                stamps[event.to_bytes()[:60]] = time.monotonic()
            await publisher.publish(event)
            if n % 50 == 0:
                await publisher.flush()
    await asyncio.sleep(2)
    reader.cancel()
    await consumer.stop()


def _poll_replica(
    world: StreamWorld, sent_at: dict[str, float], visible: dict[str, float], done: threading.Event
) -> None:
    """Ask the replica every 5 ms which outstanding payments it already holds."""
    database = Database(world.settings.mysql)
    query = text("SELECT payment_id FROM payments WHERE payment_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    try:
        with database.reader.connect() as conn:
            while not done.is_set():
                outstanding = [k for k in list(sent_at) if k not in visible][:2000]
                if outstanding:
                    rows = conn.execute(query, {"ids": outstanding}).scalars().all()
                    conn.commit()
                    now = time.monotonic()
                    for payment_id in rows:
                        visible[payment_id] = now
                time.sleep(0.005)
    finally:
        database.dispose()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(
    runs: Annotated[int, typer.Option(help="Measured runs per figure.")] = 3,
    rate: Annotated[float, typer.Option(help="Steady rate of the latency runs.")] = 2000,
    seconds: Annotated[float, typer.Option(help="Length of one latency run.")] = 20,
) -> None:
    """Measure the streams figures and write them to docs/benchmarks.md."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    figures: list[Figure] = []
    profiles: dict[str, dict[str, float]] = {}
    from bench.stores import gremlin_elements_per_s, mariadb_rows_per_s, redis_ops_per_s

    raw_db, raw_redis, raw_graph = [], [], []
    runs_by: dict[str, list[Throughput]] = {}
    for dataset in ("retail", "synthetic"):
        runs_by[dataset] = []
        totals: dict[str, float] = defaultdict(float)
        for run in range(runs):
            result = throughput_run(settings, dataset)
            runs_by[dataset].append(result)
            for sink, secs in result.profile.items():
                totals[sink] += secs
            # Each store's raw speed, alternated with the runs so both see the same machine.
            raw_db.append(mariadb_rows_per_s(settings))
            raw_redis.append(redis_ops_per_s(settings))
            raw_graph.append(gremlin_elements_per_s(settings))
            console.log(
                f"{dataset} run {run + 1}: end to end {result.end_to_end:,.0f}/s, ledger "
                f"{result.ledger:,.0f}/s, raw consumer {result.raw:,.0f}/s; stores: MariaDB "
                f"{raw_db[-1]:,.0f} rows/s, Redis {raw_redis[-1]:,.0f} ops/s, Gremlin "
                f"{raw_graph[-1]:,.0f} vertices/s"
            )
        profiles[dataset] = dict(totals)
    command = f"python -m bench.streams --runs {runs}"
    for dataset, figure in (
        ("retail", "streams.end_to_end_events_per_s"),
        ("synthetic", "streams.end_to_end_events_per_s_synthetic"),
    ):
        results = runs_by[dataset]
        figures.append(
            Figure(
                figure,
                "events/s",
                [r.end_to_end for r in results],
                command,
                "plain aiokafka consumer, same topics, same run",
                [r.raw for r in results],
                ">= 20000",
            )
        )
    synthetic = runs_by["synthetic"]
    figures.append(
        Figure(
            "streams.ledger_events_per_s",
            "events/s",
            [r.ledger for r in synthetic],
            command,
            "multi-row INSERT into MariaDB, 1,000-row transactions (rows/s), same run",
            raw_db,
        )
    )
    graph_rates = [
        r.graph_elements / r.profile["graph"]
        for r in synthetic
        if r.profile.get("graph") and r.graph_elements
    ]
    figures.append(
        Figure(
            "streams.graph_upserts_per_s",
            "upserts/s",
            graph_rates,
            command,
            "one injected mergeV traversal per 2,000 rows on Gremlin Server (vertices/s), same run",
            raw_graph,
        )
    )
    full: list[float] = []
    raw_full: list[float] = []
    for run in range(max(1, runs)):
        result = throughput_run(settings, "retail", limit=None)
        full.append(result.seconds)
        raw_full.append(result.raw)
        console.log(f"full Online Retail run {run + 1}: materialized in {result.seconds:.1f} s")
    figures.append(
        Figure(
            "streams.online_retail_materialized_s",
            "s",
            full,
            command,
            None,
            [],
            "<= 60",
            higher_is_better=False,
        )
    )
    visible: list[float] = []
    broker: list[float] = []
    p99s, broker_p99s = [], []
    for run in range(runs):
        lat, rt = latency_run(settings, rate, seconds)
        visible += lat
        broker += rt
        p99s.append(percentile(lat, 99))
        broker_p99s.append(percentile(rt, 99))
        console.log(
            f"latency run {run + 1}: p50 {percentile(lat, 50):.0f} ms, "
            f"p99 {p99s[-1]:.0f} ms; broker p99 {broker_p99s[-1]:.0f} ms"
        )
    # The same measurement at a rate one worker sustains, for context in the notes.
    low_rate = rate / 4
    low, _ = latency_run(settings, low_rate, seconds)
    console.log(
        f"latency at {low_rate:,.0f}/s: p50 {percentile(low, 50):.0f} ms, "
        f"p99 {percentile(low, 99):.0f} ms"
    )
    figures.append(
        Figure(
            "streams.replica_visible_latency_p99_ms",
            "ms",
            p99s,
            f"python -m bench.streams --runs {runs} --rate {rate:.0f}",
            "broker produce-to-consume round trip p99, same run",
            broker_p99s,
            higher_is_better=False,
        )
    )
    share = "; ".join(
        f"{dataset}: "
        + ", ".join(
            f"{sink} {secs / sum(p.values()) * 100:.0f}%" for sink, secs in sorted(p.items())
        )
        for dataset, p in profiles.items()
        if p
    )

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2] if values else 0.0

    # Each sink's own speed while busy (events or elements over its summed batch time), as a
    # share of its store's raw speed.
    busy = {
        sink: median([r.events / r.profile[sink] for r in synthetic if r.profile.get(sink)])
        for sink in ("ledger", "redis")
    }
    graph_busy = median(graph_rates)
    ratios = (
        f"ledger {busy['ledger']:,.0f} events/s = {busy['ledger'] / median(raw_db):.2f} of "
        f"MariaDB's raw rows/s; Redis {busy['redis']:,.0f} events/s (several commands each) = "
        f"{busy['redis'] / median(raw_redis):.2f} of raw HSET/s; graph {graph_busy:,.0f} "
        f"elements/s = {graph_busy / median(raw_graph):.2f} of raw mergeV vertices/s"
    )
    notes = (
        f"`paystream streams run` as users run it: the ledger, Redis and graph workers, one "
        f"process and one consumer group each, on a pre-loaded topic set (Online Retail: the "
        f"first 120,000 lines; synthetic: `paystream simulate`, 800 customers × 7 days), timed "
        f"from the first applied event until every sink's group has committed everything. "
        f"`streams.ledger_events_per_s` stops the clock when the ledger applied the last event "
        f"(synthetic). `streams.online_retail_materialized_s`: the whole log (541,909 lines), "
        f"first applied event to all three sinks caught up, the reconciliation follows in the "
        f"demo. Raw store speeds measured between the runs: MariaDB multi-row insert "
        f"{median(raw_db):,.0f} rows/s, Redis pipeline {median(raw_redis):,.0f} HSET/s, "
        f"Gremlin injected mergeV {median(raw_graph):,.0f} vertices/s. Latency: {rate:,.0f} "
        f"payment authorizations/s for {seconds:.0f} s "
        f"per run after a 2,000-event warm-up; visibility polled on the replica every 5 ms. "
        f"All runs: replica-visible p50 {percentile(visible, 50):.0f} ms, p99 "
        f"{percentile(visible, 99):.0f} ms, p99.9 {percentile(visible, 99.9):.0f} ms; broker "
        f"round trip p50 {percentile(broker, 50):.0f} ms, p99 {percentile(broker, 99):.0f} ms. "
        f"At {low_rate:,.0f}/s: p50 {percentile(low, 50):.0f} ms, "
        f"p99 {percentile(low, 99):.0f} ms, p99.9 {percentile(low, 99.9):.0f} ms.\n\n"
        f"Where the time goes (share of sink time, from `paystream_sink_seconds`): {share}. "
        f"Each sink against its store (synthetic, busy time only): {ratios}."
    )
    write("Stream workers", figures, notes)


if __name__ == "__main__":
    typer.run(main)
