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

from collections import defaultdict
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from bench.lib.replica_latency import latency_run
from bench.lib.stats import percentile
from bench.lib.stream_throughput import Throughput, throughput_run
from compose.local.stack import LocalStack
from paystream.settings import get_settings

console = Console()


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
    from bench.lib.stores import gremlin_elements_per_s, mariadb_rows_per_s, redis_ops_per_s

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
