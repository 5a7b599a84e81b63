"""Risk decisions: latency from producing an authorization to its decision, and graph features.

Run: ``python -m bench.risk`` (the stack must be up; it is started if not).

As users run it (``make demo``): in each fresh world the materializing workers
(``paystream streams run``: ledger, Redis and graph) and the risk agents
(``paystream streams risk``, default settings) run side by side.

* **Latency.** A steady stream of authorizations at 1,000/s and 5,000/s. Each payment's
  latency runs from handing it to the producer until its ``risk.decided`` is read back from
  the decisions topic: after the decision is in Redis and acknowledged by the broker. Beside
  it, in the same run, a plain aiokafka consumer of the payments topic samples the broker's
  own produce-to-consume round trip, and before any load the idle machine is measured
  (:mod:`bench.lib.baseline`). The agents' ``paystream_risk_stage_seconds`` histogram is scraped
  before and after each run, so the notes show where the time goes.
* **Graph features under load** (``risk.graph_feature_availability``): the Online Retail log
  replayed at full speed while every worker projects it, as in the demo; the share of
  decisions that had graph features, with the Gremlin source (``risk.graph_source=gremlin``)
  in the same run as the reference.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import text

from bench.lib.baseline import (
    Buckets,
    Idle,
    idle_baseline,
    scrape_stages,
    stage_summary,
)
from bench.lib.payments import synthetic_payments
from bench.lib.record import Figure, write
from bench.lib.risk_load import measure
from bench.lib.stats import percentile
from compose.local.stack import LocalStack
from harness.worlds import create_world
from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from paystream.contracts.events import PaymentAuthorized
from paystream.settings import REPO_ROOT, Settings, get_settings
from paystream.stores.mysql import primary_engine

console = Console()
LOGS = REPO_ROOT / ".stack" / "bench" / "risk"
METRICS_PORT = 9561
RETAIL_LINES = 120_000


@dataclass
class LatencyRun:
    """One measured run at one rate."""

    latencies_ms: list[float]
    broker_ms: list[float]
    missing: int
    before: Buckets
    after: Buckets


def latency_run(
    settings: Settings, rate: float, seconds: float, agents: int, workers: bool
) -> LatencyRun:
    """One measured run in a fresh world: warm up, then a steady ``rate`` for ``seconds``;
    with ``workers``, the materializing workers run beside the agents on the same cores."""
    world = create_world(settings, LOGS, partitions=6)
    tag = world.settings.streams.namespace
    ports = [METRICS_PORT + i for i in range(agents)]
    try:
        if workers:
            world.start_worker()
        for port in ports:
            world.start_worker(kind="risk", metrics_port=port)
        warm = synthetic_payments(3000, f"{tag}w")
        world.publish(warm)
        world.wait_all_caught_up(300, materialized=workers)
        events = [
            e
            for e in synthetic_payments(int(rate * seconds) + 20, tag)
            if isinstance(e, PaymentAuthorized)
        ]
        before = scrape_stages(ports)
        latencies, broker, missing = asyncio.run(measure(world.settings.kafka, events, rate))
        return LatencyRun(latencies, broker, missing, before, scrape_stages(ports))
    finally:
        world.destroy()


def availability_run(settings: Settings, source: str) -> tuple[float, float, int]:
    """Replay Online Retail at full speed with every worker running; return the share of
    decisions with graph features, the share with fresh ones, and the decisions made."""
    risk = settings.risk.model_copy(update={"graph_source": source})
    world = create_world(settings.model_copy(update={"risk": risk}), LOGS)
    try:
        world.start_worker()
        world.start_worker(kind="risk")
        asyncio.run(run_online_retail(world.settings.kafka, DEFAULT_FILE, limit=RETAIL_LINES))
        world.wait_all_caught_up(1800)
        time.sleep(2)
        engine = primary_engine(world.settings.mysql)
        try:
            with engine.connect() as conn:
                reasons = [r for (r,) in conn.execute(text("SELECT reasons FROM risk_decisions"))]
        finally:
            engine.dispose()
    finally:
        world.destroy()
    total = len(reasons)
    available = sum("GRAPH_UNAVAILABLE" not in r for r in reasons)
    fresh = sum("GRAPH_UNAVAILABLE" not in r and "GRAPH_STALE" not in r for r in reasons)
    return available / max(total, 1), fresh / max(total, 1), total


def _stage_note(runs: list[LatencyRun]) -> str:
    merged: dict[str, list[tuple[float, float, int]]] = {}
    for run in runs:
        for stage, values in stage_summary(run.before, run.after).items():
            merged.setdefault(stage, []).append(values)
    order = ["consume_wait", "thread_hop", "features", "graph", "decide", "store", "publish"]
    parts = []
    for stage in [s for s in order if s in merged]:
        p50 = statistics.median(v[0] for v in merged[stage])
        p99 = statistics.median(v[1] for v in merged[stage])
        parts.append(f"{stage} {p50:.2f} / {p99:.2f}")
    return "; ".join(parts)


def _latency_figures(
    rate: float, runs: list[LatencyRun], agents: int, command: str
) -> tuple[list[Figure], str]:
    p99s = [percentile(r.latencies_ms, 99) for r in runs]
    p999s = [percentile(r.latencies_ms, 99.9) for r in runs]
    broker99 = [percentile(r.broker_ms, 99) for r in runs]
    broker999 = [percentile(r.broker_ms, 99.9) for r in runs]
    every = [x for r in runs for x in r.latencies_ms]
    broker = [x for r in runs for x in r.broker_ms]
    k = f"{rate / 1000:.0f}k"
    figures = [
        Figure(
            f"risk.decision_latency_p99_ms_at_{k}",
            "ms",
            p99s,
            command,
            "broker produce-to-consume round trip p99, same run",
            broker99,
            "< 25" if rate == 1000 else "< 50",
            higher_is_better=False,
        )
    ]
    if rate == 1000:
        figures.append(
            Figure(
                "risk.decision_latency_p999_ms_at_1k",
                "ms",
                p999s,
                command,
                "broker produce-to-consume round trip p99.9, same run",
                broker999,
                None,
                higher_is_better=False,
            )
        )
    note = (
        f"At {rate:,.0f}/s with {agents} risk agent{'s' if agents > 1 else ''} ({len(runs)} "
        f"runs): decision p50 {percentile(every, 50):.1f} ms, p99 {percentile(every, 99):.1f} "
        f"ms, p99.9 {percentile(every, 99.9):.1f} ms; broker round trip under the same load "
        f"p50 {percentile(broker, 50):.1f} ms, p99 {percentile(broker, 99):.1f} ms, p99.9 "
        f"{percentile(broker, 99.9):.1f} ms; payments without a decision 60 s after the last "
        f"send: {sum(r.missing for r in runs)}. Stages, p50 / p99 ms (medians over runs, "
        f"from the agents' `paystream_risk_stage_seconds`): {_stage_note(runs)}."
    )
    return figures, note


def main(
    runs: Annotated[int, typer.Option(help="Measured runs per rate.")] = 3,
    seconds: Annotated[float, typer.Option(help="Length of one run at steady rate.")] = 15,
    rates: Annotated[str, typer.Option(help="Comma-separated payments/s.")] = "1000,5000",
    agents_at_5k: Annotated[int, typer.Option(help="Risk agents for the 5,000/s runs.")] = 2,
    availability_runs: Annotated[
        int, typer.Option(help="Online Retail replays per graph source (0: skip).")
    ] = 2,
    workers: Annotated[
        bool, typer.Option(help="Run the materializing workers beside the agents.")
    ] = False,
) -> None:
    """Measure risk decision latency and graph-feature availability; write docs/benchmarks.md."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    command = (
        f"python -m bench.risk --runs {runs} --seconds {seconds:.0f} --rates {rates} "
        f"--agents-at-5k {agents_at_5k} --availability-runs {availability_runs}"
        + (" --workers" if workers else "")
    )
    idle = _idle(settings)
    console.log(f"idle machine: {idle.describe()}")
    figures: list[Figure] = []
    notes: list[str] = [f"Idle machine before any load, same run: {idle.describe()}."]
    for rate in (float(r) for r in rates.split(",")):
        agents = agents_at_5k if rate >= 5000 else 1
        measured: list[LatencyRun] = []
        for n in range(runs):
            run = latency_run(settings, rate, seconds, agents, workers)
            measured.append(run)
            console.log(
                f"{rate:,.0f}/s run {n + 1} ({agents} agents): p50 "
                f"{percentile(run.latencies_ms, 50):.1f} ms, p99 "
                f"{percentile(run.latencies_ms, 99):.1f} ms, p99.9 "
                f"{percentile(run.latencies_ms, 99.9):.1f} ms; broker p99 "
                f"{percentile(run.broker_ms, 99):.1f} ms; undecided: {run.missing}; stages "
                f"{_stage_note([run])}"
            )
        found, note = _latency_figures(rate, measured, agents, command)
        figures += found
        notes.append(note)
    if availability_runs:
        cache: list[float] = []
        gremlin: list[float] = []
        fresh: list[float] = []
        decided: list[int] = []
        for n in range(availability_runs):
            for source, into in (("cache", cache), ("gremlin", gremlin)):
                share, fresh_share, total = availability_run(settings, source)
                into.append(share)
                if source == "cache":
                    fresh.append(fresh_share)
                    decided.append(total)
                console.log(
                    f"availability run {n + 1}, {source}: {share:.4f} with graph features, "
                    f"{fresh_share:.4f} fresh, of {total:,} decisions"
                )
        figures.append(
            Figure(
                "risk.graph_feature_availability",
                "share",
                cache,
                command,
                "the same with risk.graph_source=gremlin (40 ms budget), same run",
                gremlin,
                ">= 0.99",
            )
        )
        notes.append(
            f"Graph features under load: the first {RETAIL_LINES:,} lines of Online Retail "
            f"replayed at full speed while the ledger, Redis and graph workers and one risk "
            f"agent run, as in `make demo`; {statistics.median(decided):,.0f} decisions per "
            f"replay. Share of decisions with graph features: cache "
            f"{statistics.median(cache):.4f}, Gremlin {statistics.median(gremlin):.4f}. Share "
            f"with fresh ones (not `GRAPH_STALE`: the payment at most "
            f"`risk.graph_stale_after_s` past the projection's newest event, in event time): "
            f"{statistics.median(fresh):.4f}; a replay at full speed compresses months of "
            f"event time into minutes, so the projection's lag of a second is hours of it."
        )
    beside = (
        "`paystream streams run` (ledger, Redis and graph workers) beside the risk agents"
        if workers
        else "the risk agents alone (`paystream streams risk`; the materializing workers, "
        "which `make demo` runs on the same machine, are left out of the latency runs: on 2 "
        "cores they take the CPU the agents need, see the availability runs for both together)"
    )
    notes.append(
        f"Every latency world runs {beside}, with default settings (rules only: no champion "
        "is registered for the bench's model name), 6 partitions, after a 3,000-payment "
        "warm-up. The load generator and both timing consumers share the 2 cores with the "
        "agents and the servers."
    )
    write("Risk decisions", figures, "\n\n".join(notes))


def _idle(settings: Settings) -> Idle:
    world = create_world(settings, LOGS, partitions=1)
    try:
        kafka = world.settings.kafka
        return idle_baseline(kafka, kafka.topic("payments"), settings.redis)
    finally:
        world.destroy()


if __name__ == "__main__":
    typer.run(main)
