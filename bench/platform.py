"""The platform as ``make demo`` leaves it, under a steady stream of API payments.

The stack, the three sink workers, one risk agent and ``paystream api serve`` run at
default settings on the default namespace and topics (started here where they are not
running, and left running). A load generator posts ``POST /v1/payments`` open loop at each
rate while reading recommendations and statements, and measures for every payment of a
60 s window after a warm-up:

* ``platform.decision_visible_p99_ms_at_<rate>``: intake to the risk decision readable where
  ``GET /v1/payments/{id}/risk`` reads it;
* ``platform.replica_visible_p99_ms_at_<rate>``: intake to the payment readable on the
  replica where ``GET /v1/payments/{id}`` reads it;
* ``platform.sustained_payments_per_s``: the highest rate with no growing lag
  (``bench.lib.platform_stats`` defines it);
* ``platform.cpu_ms_per_event``: CPU ms of every platform process per payment at 500/s
  (every process and rate in the notes).

References in the same run: the broker's own produce-to-consume round trip under the load,
and the idle API's ``/healthz``.

    .venv/bin/python -m bench.platform --runs 3 --rates 200,500,1000 --seconds 60 --warmup 10
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvloop
from rich.console import Console

from bench.lib import platform_report as report
from bench.lib.platform_load import describe_ms
from bench.lib.platform_run import Context, Options, RunResult, run_once
from bench.lib.platform_setup import (
    SEED,
    api_base,
    bring_up,
    create_keys,
    payment_templates,
    process_roots,
    read_target,
    revoke_keys,
)
from bench.lib.platform_watch import RoundTrip, create_scratch_topic, delete_scratch_topic
from bench.lib.record import write
from paystream.settings import get_settings

console = Console()


async def _measure(ctx: Context, runs: int, rates: list[float], idle_s: float) -> list[RunResult]:
    kafka = ctx.settings.kafka
    topic = kafka.topic("bench-platform-rt")
    await create_scratch_topic(kafka, topic)
    rt = RoundTrip(kafka, topic)
    await rt.start()
    results: list[RunResult] = []
    try:
        for n in range(runs):
            ctx.report(f"run {n + 1}/{runs}")
            result = await run_once(ctx, rates, idle_s, rt)
            results.append(result)
            for rate, r in result.rates.items():
                ctx.report(
                    f"run {n + 1} at {rate:,.0f}/s: {r.sent:,} sent, {r.errors:,} not accepted; "
                    f"decision {describe_ms(r.decision_ms)}; replica {describe_ms(r.replica_ms)}; "
                    f"broker RT {describe_ms(r.broker_ms)}; "
                    f"{'sustained' if r.verdict.sustained else 'NOT sustained'}"
                )
    finally:
        await rt.stop()
        await delete_scratch_topic(kafka, topic)
    return results


def main(
    runs: Annotated[int, typer.Option(help="Measured runs (medians reported).")] = 3,
    rates: Annotated[str, typer.Option(help="Comma-separated payments/s.")] = "200,500,1000",
    seconds: Annotated[float, typer.Option(help="Measured window per rate.")] = 60,
    warmup: Annotated[float, typer.Option(help="Warm-up at the rate before each window.")] = 10,
    idle_seconds: Annotated[float, typer.Option(help="Idle CPU window per run.")] = 10,
    poll_ms: Annotated[float, typer.Option(help="Redis decision poll interval.")] = 5,
    replica_poll_ms: Annotated[float, typer.Option(help="Replica poll interval.")] = 20,
    http_sample_per_s: Annotated[
        float, typer.Option(help="Payments a second also timed through the GET endpoints.")
    ] = 1,
    reads_per_s: Annotated[float, typer.Option(help="Recommendation + statement reads/s.")] = 15,
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md and JSON.")] = True,
) -> None:
    """Measure decision and replica visibility, lag and CPU per payment at each rate."""
    wanted = [float(r) for r in rates.split(",")]
    settings = get_settings()
    started = bring_up(settings, console.log)
    templates = payment_templates()
    target = read_target(settings, templates[0])
    merchants = sorted({t.merchant_id for t in templates} | {target.merchant_id})
    keys = create_keys(settings, merchants)
    options = Options(
        warmup_s=warmup,
        seconds=seconds,
        poll_s=poll_ms / 1000,
        replica_poll_s=replica_poll_ms / 1000,
        http_sample_per_s=http_sample_per_s,
        reads_per_s=reads_per_s,
    )
    ctx = Context(
        settings,
        process_roots(settings),
        keys.by_merchant,
        templates,
        target,
        api_base(settings),
        options,
        console.log,
    )
    try:
        results = uvloop.run(_measure(ctx, runs, wanted, idle_seconds))
    finally:
        revoke_keys(settings, keys)
    command = (
        f"python -m bench.platform --runs {runs} --rates {rates} --seconds {seconds:g} "
        f"--warmup {warmup:g}"
    )
    notes = _notes(ctx, results, wanted, idle_seconds, started)
    console.print(notes)
    if record:
        write("Platform", report.figures(results, wanted, command), notes)


def _notes(
    ctx: Context, results: list[RunResult], rates: list[float], idle_s: float, started: list[str]
) -> str:
    opts = ctx.options
    healthz = [ms for r in results for ms in r.healthz_ms]
    idle_rt = [ms for r in results for ms in r.idle_broker_ms]
    fresh = f"started by the benchmark: {', '.join(started)}" if started else "all already running"
    how = (
        f"Measured on what `make demo` leaves running ({fresh}): the local stack, "
        f"`paystream streams run` (ledger, Redis and graph sink workers, a process each) and one "
        f"`paystream streams risk` agent, each under its keeper, the lakehouse service "
        f"(`paystream lakehouse run`, gold refreshed every "
        f"{ctx.settings.lakehouse.refresh_interval_s:g} s), the SQL endpoint and "
        f"`paystream api serve` "
        f"({ctx.settings.api.workers} worker), all at default settings on the default namespace "
        f"`{ctx.settings.streams.namespace}` and topics `{ctx.settings.kafka.topic('payments')}` "
        f"etc. Load: one aiohttp process (uvloop, keep-alive, up to 100 connections) posts "
        f"`POST /v1/payments` open loop (payment n due at n / rate, whatever earlier answers "
        f"did; a fresh `Idempotency-Key` each) with bodies from `paystream simulate` (seed "
        f"{SEED}: {len({t.merchant_id for t in ctx.templates})} merchants, "
        f"{len({t.customer_id for t in ctx.templates})} customers, {len(ctx.templates):,} "
        f"authorizations posted in turn, each pass through them under fresh customer, card and "
        f"device ids, so a payer has the simulator's few payments, not one more per pass; one "
        f"merchant key each, with a rate limit that never binds), while reading "
        f"recommendations and statements at {opts.reads_per_s:g} req/s "
        f"as {ctx.reads.source}. wrk and locust do not fit: every payment's id and send time "
        f"are needed, at a fixed open-loop rate. Each rate: every consumer group drained to at "
        f"most 100 records of lag, then {opts.warmup_s:g} s of warm-up and the {opts.seconds:g} s "
        f"window without a pause; warm means the JVMs, MariaDB, Redis and the API have served "
        f"the warm-up at that rate, the risk agent has its model, the generator's connections "
        f"are open. Latencies run from sending each window payment's POST; polling for it "
        f"starts when its 202 arrives. Decision visible: the hash "
        f"`ServedKeys(namespace).decision(id)` that `GET /v1/payments/{{id}}/risk` reads exists "
        f"(one Lua EXISTS over the pending keys every {opts.poll_s * 1000:g} ms). Replica "
        f"visible: the row `GET /v1/payments/{{id}}` selects (payment and merchant) is on the "
        f"replica (one `IN (…)` query every {opts.replica_poll_s * 1000:g} ms); each poll asks "
        f"about the oldest 1,000 pending payments and waits at least 3 times its own duration "
        f"before the next, so polling cannot pile onto a platform that falls behind. After "
        f"the window the load goes on unmeasured until every window payment is visible (at most "
        f"{opts.tail_s:g} s), then stops; a payment still not visible {opts.straggle_s:g} s "
        f"later counts with the time waited. Percentiles are over every payment of the window; "
        f"figures are medians over runs of each run's p99. Reference: the broker's own "
        f"produce (acks=all, linger 0) to consume round trip on a "
        f"one-partition scratch topic, one record every {opts.rt_interval_s * 1000:g} ms "
        f"during each window. CPU: utime + stime (+ reaped children) of every process tree "
        f"from `/proc` at the window's start and end, over the window's payments; the total "
        f"covers the API, the stream workers with their keeper, the risk agent with its "
        f"keeper, Kafka, both MariaDB servers, Redis, Gremlin Server and MLflow (the agent polls "
        f"its registry); the generator with its pollers and lag sampler (whose queries load "
        f"Redis and the replica too) is apart, and so is everything else the machine ran "
        f"(all cores' busy time from `/proc/stat` minus both): a quiet machine shows it near "
        f"0, a busy one says the figures shared the cores with something else."
    )
    idle = (
        f"Idle, before each run's load: `GET /healthz` (500 sequential, keep-alive) "
        f"{describe_ms(healthz)}; broker round trip {describe_ms(idle_rt)}; idle CPU over "
        f"{idle_s:g} s per run in the table's first column."
    )
    sustained = report.definition()
    why = report.verdicts(results, rates)
    parts = [
        how,
        idle,
        "Per rate, pooled over runs:\n\n" + report.latency_table(results, rates),
        "CPU ms per payment (medians over runs; idle column: CPU ms per second with no "
        "load):\n\n" + report.cpu_table(results, rates),
        sustained + (f" Not sustained:\n\n{why}" if why else ""),
        "Lag per consumer group in the window (records, medians over runs):\n\n"
        + report.lag_table(results, rates),
        f"Checked through the API (about {opts.http_sample_per_s:g} window payment(s) a second "
        f"also polled on `GET /v1/payments/{{id}}/risk` every {opts.http_poll_s[0] * 1000:g} ms "
        f"and on `GET /v1/payments/{{id}}` every {opts.http_poll_s[1] * 1000:g} ms, from the "
        f"202 on; these GETs are part of the API's load): "
        + report.http_check(results, rates)
        + ".",
        "Concurrent reads: " + report.reads_summary(results, rates) + ".",
        "Store-side polling: " + report.polls_summary(results, rates) + ".",
        "Risk agent stages, p50 / p99 ms (`paystream_risk_stage_seconds` over the window): "
        + report.stages_summary(results, rates)
        + ".",
    ]
    return "\n\n".join(parts)


if __name__ == "__main__":
    typer.run(main)
