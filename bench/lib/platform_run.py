"""One run of the platform benchmark: the idle API, an idle CPU window, then each rate.

For each rate: wait until every consumer group has drained what earlier rates left, post at
the rate for the warm-up and then the measured window without a pause, keep posting (not
measured) until every window payment is visible or ``tail_s`` has passed, then stop and give
stragglers ``straggle_s`` more. CPU snapshots, the risk agent's stage histogram and the lag
series cover exactly the window; payments are measured when their due time falls in it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench.lib.baseline import Buckets, scrape_stages, stage_summary
from bench.lib.platform_load import (
    HttpSample,
    PaymentLoad,
    PaymentTemplate,
    Reads,
    follow_over_http,
    healthz_ms,
    read_load,
    session,
)
from bench.lib.platform_setup import ReadTarget, keeper_restarts
from bench.lib.platform_stats import LagSeries, Verdict, judge, sample_stride, window_indices
from bench.lib.platform_watch import DecisionPoller, LagSampler, ReplicaPoller, RoundTrip
from bench.lib.proc_cpu import Snapshot, cpu_seconds, snapshot
from bench.lib.stats import percentile
from paystream.contracts.served import ServedKeys
from paystream.settings import Settings
from paystream.stores.redis import async_client

#: A group counts as drained at or below this many records of lag.
DRAINED = 100
#: Connections of the read load and the sampled GETs.
READ_CONNECTIONS = 20
#: The API's backlog, judged like a consumer group's lag: posts sent and not yet answered.
INTAKE = "api intake (posts in flight)"


@dataclass(frozen=True)
class Options:
    """How the run loads and watches the platform."""

    warmup_s: float
    seconds: float
    poll_s: float = 0.005  # Redis decision polls (target 100 ms: 5 % resolution)
    replica_poll_s: float = 0.020  # replica polls (target 500 ms: 4 %; each one is a query)
    # Payments a second also timed through the GET endpoints, each polled on /risk every
    # 10 ms and on /v1/payments/{id} every 25 ms: about 30 extra GETs a second in all.
    http_sample_per_s: float = 1.0
    http_poll_s: tuple[float, float] = (0.010, 0.025)
    reads_per_s: float = 15.0
    tail_s: float = 30.0  # load kept on after the window while window payments are pending
    straggle_s: float = 30.0  # then without load
    drain_timeout_s: float = 300.0
    rt_interval_s: float = 0.05  # broker round trips under load, one every 50 ms


@dataclass
class RateResult:
    """Everything one rate's window measured."""

    rate: float
    scheduled: int
    window_s: float = 0.0
    sent: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    intake_ms: list[float] = field(default_factory=list)
    slip_ms: list[float] = field(default_factory=list)
    max_in_flight: int = 0
    decision_ms: list[float] = field(default_factory=list)  # missing ones censored
    replica_ms: list[float] = field(default_factory=list)
    # The same measured from the 202 instead of the send: the part behind the intake.
    decision_after_202_ms: list[float] = field(default_factory=list)
    replica_after_202_ms: list[float] = field(default_factory=list)
    missing_decision: int = 0
    missing_replica: int = 0
    http: HttpSample = field(default_factory=HttpSample)
    store_decision: dict[str, float] = field(default_factory=dict)  # sampled ids only
    store_replica: dict[str, float] = field(default_factory=dict)
    reads: Reads = field(default_factory=Reads)
    lag: dict[str, LagSeries] = field(default_factory=dict)
    broker_ms: list[float] = field(default_factory=list)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # service -> label -> s
    own_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # every process on the machine, the platform's included
    stages: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    drain_s: float = 0.0
    drained: bool = True
    # Store polls over the whole rate, Redis then replica: (polls, ids asked about).
    polls: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    restarts: dict[str, int] = field(default_factory=dict)  # keeper restarts during the rate
    verdict: Verdict = field(default_factory=lambda: Verdict(False, ("not measured",)))


@dataclass
class RunResult:
    """One run: the idle references, then every rate."""

    healthz_ms: list[float] = field(default_factory=list)
    idle_broker_ms: list[float] = field(default_factory=list)
    idle_cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # seconds in idle_s
    idle_own_cpu_s: float = 0.0
    idle_machine_cpu_s: float = 0.0
    idle_s: float = 0.0
    rates: dict[float, RateResult] = field(default_factory=dict)


@dataclass
class Context:
    """What every rate of every run shares."""

    settings: Settings
    roots: dict[str, int]
    keys: dict[str, str]
    templates: list[PaymentTemplate]
    reads: ReadTarget
    base: str
    options: Options
    report: Callable[[str], None]


async def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _stages(ctx: Context) -> Buckets:
    port = ctx.settings.stack.risk_metrics_port
    try:
        return await asyncio.to_thread(scrape_stages, [port])
    except OSError:
        return {}


async def run_once(ctx: Context, rates: list[float], idle_s: float, rt: RoundTrip) -> RunResult:
    """Measure the idle references, then each rate in turn."""
    result = RunResult(idle_s=idle_s)
    async with session() as plain:
        result.healthz_ms = await healthz_ms(plain, ctx.base, 500)
    for _ in range(200):
        result.idle_broker_ms.append(await rt.once())
        await asyncio.sleep(0.005)
    if idle_s > 0:
        before = await asyncio.to_thread(snapshot, ctx.roots)
        await asyncio.sleep(idle_s)
        after = await asyncio.to_thread(snapshot, ctx.roots)
        result.idle_cpu = cpu_seconds(before, after)
        result.idle_own_cpu_s = after.own_s - before.own_s
        result.idle_machine_cpu_s = after.machine_s - before.machine_s
    redis = async_client(ctx.settings.redis)
    lag = LagSampler(ctx.settings.kafka, _groups(ctx.settings))
    await lag.start()
    try:
        # Reads and sampled GETs get their own connections: behind the posts' queue they
        # would time the generator's connection pool, not the API.
        async with session() as client, session(READ_CONNECTIONS) as side:
            for rate in rates:
                result.rates[rate] = await _measure_rate(ctx, rate, (client, side), redis, lag, rt)
    finally:
        await lag.stop()
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
    return result


def _groups(settings: Settings) -> dict[str, list[str]]:
    from streams.groups import all_groups

    return all_groups(settings)


async def _drain(ctx: Context, lag: LagSampler) -> tuple[float, bool]:
    started = time.monotonic()
    while time.monotonic() - started < ctx.options.drain_timeout_s:
        if max((await lag.sample()).values(), default=0) <= DRAINED:
            return time.monotonic() - started, True
        await asyncio.sleep(1.0)
    return time.monotonic() - started, False


async def _measure_rate(
    ctx: Context,
    rate: float,
    clients: tuple[aiohttp.ClientSession, aiohttp.ClientSession],
    redis: Redis[Any],
    lag: LagSampler,
    rt: RoundTrip,
) -> RateResult:
    opts = ctx.options
    client, side = clients
    drain_s, drained = await _drain(ctx, lag)
    window = window_indices(rate, opts.warmup_s, opts.seconds)
    out = RateResult(rate, len(window), opts.seconds, drain_s=drain_s, drained=drained)
    served = ServedKeys(ctx.settings.streams.namespace)  # as the API builds its keys
    decisions = DecisionPoller(redis, opts.poll_s)
    replica = ReplicaPoller(ctx.settings, opts.replica_poll_s)
    stride = sample_stride(rate, opts.http_sample_per_s)
    sampled: set[str] = set()
    intake_ms: dict[str, float] = {}
    followers: set[asyncio.Task[None]] = set()
    restarts_before = keeper_restarts(ctx.settings)
    start = time.monotonic() + 0.2
    window_start = start + opts.warmup_s
    window_end = window_start + opts.seconds
    ctx.report(
        f"{rate:,.0f}/s: drained in {drain_s:.0f} s; warm-up {opts.warmup_s:g} s, "
        f"window {opts.seconds:g} s"
    )

    def accepted(n: int, sent: float, payment_id: str, template: PaymentTemplate) -> None:
        intake_ms[payment_id] = (time.monotonic() - sent) * 1000
        decisions.add(payment_id, sent, served.decision(payment_id))
        replica.add(payment_id, sent, template.merchant_id)
        if stride and n % stride == 0:
            sampled.add(payment_id)
            task = asyncio.create_task(
                follow_over_http(
                    side,
                    ctx.base,
                    ctx.keys[template.merchant_id],
                    payment_id,
                    sent,
                    opts.http_poll_s,
                    window_end + opts.tail_s + opts.straggle_s,
                    out.http,
                )
            )
            followers.add(task)
            task.add_done_callback(followers.discard)

    load = PaymentLoad(client, ctx.base, ctx.keys, ctx.templates, f"bp-{uuid.uuid4().hex[:10]}")
    stop_load, stop_watch, window_over = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def measuring() -> bool:
        return window_start <= time.monotonic() < window_end

    replica.start()
    tasks = [
        asyncio.create_task(load.run(rate, start, window, stop_load, accepted)),
        asyncio.create_task(
            read_load(
                side,
                ctx.keys[ctx.reads.merchant_id],
                ctx.reads.urls,
                opts.reads_per_s,
                measuring,
                stop_load,
                out.reads,
            )
        ),
        asyncio.create_task(decisions.run(stop_watch)),
    ]
    await _sleep_until(window_start)
    stages_before = await _stages(ctx)
    before: Snapshot = await asyncio.to_thread(snapshot, ctx.roots)
    tasks.append(asyncio.create_task(rt.run(window_over, opts.rt_interval_s, out.broker_ms)))
    sampler = asyncio.create_task(
        _sample_lag(lag, window_start, window_end, out.lag, lambda: load.total_in_flight)
    )
    await _sleep_until(window_end)
    after = await asyncio.to_thread(snapshot, ctx.roots)
    window_over.set()
    stages_after = await _stages(ctx)
    await sampler

    def pending() -> bool:
        return bool(load.posts.in_flight or decisions.pending or replica.pending)

    deadline = time.monotonic() + opts.tail_s
    while pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop_load.set()
    deadline = time.monotonic() + opts.straggle_s
    while pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    gave_up = time.monotonic()
    stop_watch.set()
    replica.done.set()
    await asyncio.gather(*tasks)
    if followers:
        await asyncio.wait(set(followers), timeout=5)
        for task in set(followers):  # never answered 200: their session closes after the rate
            task.cancel()
    replica.join(timeout=10)
    if replica.error is not None:
        raise RuntimeError(f"replica poller failed: {replica.error!r}") from replica.error

    posts = load.posts
    out.sent, out.errors, out.statuses = posts.sent, posts.errors, dict(posts.statuses)
    out.intake_ms, out.slip_ms, out.max_in_flight = (
        posts.intake_ms,
        posts.slip_ms,
        posts.max_in_flight,
    )
    # A payment never seen counts with the time the benchmark waited for it: every
    # accepted payment of the window is in the percentiles.
    out.decision_ms = [*decisions.visible_ms.values()]
    out.decision_ms += [(gave_up - sent) * 1000 for sent, _ in decisions.pending.values()]
    out.replica_ms = [*replica.visible_ms.values()]
    out.replica_ms += [(gave_up - sent) * 1000 for sent, _ in list(replica.pending.values())]
    out.missing_decision, out.missing_replica = len(decisions.pending), len(replica.pending)
    out.decision_after_202_ms = [ms - intake_ms[p] for p, ms in decisions.visible_ms.items()]
    out.replica_after_202_ms = [ms - intake_ms[p] for p, ms in replica.visible_ms.items()]
    out.store_decision = {p: decisions.visible_ms[p] for p in sampled if p in decisions.visible_ms}
    out.store_replica = {p: replica.visible_ms[p] for p in sampled if p in replica.visible_ms}
    out.cpu = cpu_seconds(before, after)
    out.own_cpu_s = after.own_s - before.own_s
    out.machine_cpu_s = after.machine_s - before.machine_s
    out.stages = stage_summary(stages_before, stages_after) if stages_before else {}
    out.polls = ((decisions.polls, decisions.asked), (replica.polls, replica.asked))
    after_restarts = keeper_restarts(ctx.settings)
    out.restarts = {k: after_restarts[k] - restarts_before.get(k, 0) for k in after_restarts}
    out.verdict = judge(
        rate,
        opts.seconds,
        out.scheduled,
        out.sent,
        out.errors,
        out.missing_decision + out.missing_replica,
        out.lag,
        percentile(out.slip_ms, 99) if out.slip_ms else 0.0,
    )
    return out


async def _sample_lag(
    lag: LagSampler,
    window_start: float,
    window_end: float,
    out: dict[str, LagSeries],
    in_flight: Callable[[], int],
) -> None:
    """One lag sample a second, from the window's start to its end, with the posts the API
    has not answered yet as the intake's own backlog."""
    n = 0
    while True:
        at = window_start + n
        if at > window_end + 1e-3:
            return
        await _sleep_until(at)
        taken = time.monotonic() - window_start
        out.setdefault(INTAKE, []).append((taken, in_flight()))
        for group, records in (await lag.sample()).items():
            out.setdefault(group, []).append((taken, records))
        n += 1
