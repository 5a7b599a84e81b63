"""Risk decision latency: from producing an authorization to its decision on the topic.

Run: ``python -m bench.risk`` (the stack must be up; it is started if not).

One risk agent (``paystream streams risk``) scores a steady stream of authorizations at
1,000/s and 5,000/s. Each payment's latency is the time from handing it to the producer
until its ``risk.decided`` is read back from the decisions topic, that is after the decision
was written to Redis and acknowledged by the broker. Beside it, in the same run, a plain
aiokafka consumer of the payments topic samples the broker's own produce-to-consume round
trip: the floor any Kafka-based decision could reach here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console

from bench.record import Figure, write
from bench.streams import _payments, percentile
from compose.local.stack import LocalStack
from harness.worlds import create_world
from paystream.contracts.events import PaymentAuthorized, RiskDecided
from paystream.producers.publish import Pacer
from paystream.settings import REPO_ROOT, KafkaSettings, Settings, get_settings

console = Console()
LOGS = REPO_ROOT / ".stack" / "bench" / "risk"


async def _measure(
    kafka: KafkaSettings, events: list[PaymentAuthorized], rate: float
) -> tuple[list[float], list[float], int]:
    """Produce at ``rate``; return (decision ms, broker round-trip ms, decisions missing)."""

    def consumer(topic: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            kafka.topic(topic),
            **kafka.client_options(),
            auto_offset_reset="latest",
            group_id=f"bench-risk-{uuid.uuid4().hex[:6]}",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )

    decisions, payments = consumer("decisions"), consumer("payments")
    for c in (decisions, payments):
        await c.start()
        await c.getmany(timeout_ms=500)
    sent: dict[str, float] = {}
    decided: dict[str, float] = {}
    broker: list[float] = []

    async def read_decisions() -> None:
        while True:
            batch = await decisions.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    d = RiskDecided.model_validate_json(r.value or b"{}")
                    decided.setdefault(d.payment_id, now)

    async def read_payments() -> None:
        while True:
            batch = await payments.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    key = (r.key or b"").decode()
                    if key.startswith("rt:"):
                        continue
                    pid = r.headers and dict(r.headers).get("pid")
                    if pid and pid.decode() in sent:
                        broker.append((now - sent[pid.decode()]) * 1000)

    tasks = [asyncio.create_task(read_decisions()), asyncio.create_task(read_payments())]
    pacer = Pacer(rate)
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=0)
    await producer.start()
    try:
        for n, event in enumerate(events):
            await pacer.wait(n)
            sent[event.payment_id] = time.monotonic()
            # Every 10th payment carries a header so the plain consumer can time it too.
            headers = [("pid", event.payment_id.encode())] if n % 10 == 0 else None
            await producer.send(
                kafka.topic("payments"),
                event.to_bytes(),
                key=event.partition_key().encode(),
                headers=headers,
            )
        await producer.flush()
    finally:
        await producer.stop()
    deadline = time.monotonic() + 60
    while len(decided) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    for c in (decisions, payments):
        await c.stop()
    latencies = [(decided[p] - sent[p]) * 1000 for p in sent if p in decided]
    return latencies, broker, len(sent) - len(decided)


def latency_run(
    settings: Settings, rate: float, seconds: float
) -> tuple[list[float], list[float], int]:
    """One measured run in a fresh world: warm up, then a steady ``rate`` for ``seconds``."""
    world = create_world(settings, LOGS, partitions=6)
    tag = world.settings.streams.namespace
    try:
        world.start_worker(kind="risk")
        warm = _payments(3000, f"{tag}w")
        world.publish(warm)
        world.wait_all_caught_up(300, materialized=False)
        events = [
            e for e in _payments(int(rate * seconds) + 20, tag) if isinstance(e, PaymentAuthorized)
        ]
        return asyncio.run(_measure(world.settings.kafka, events, rate))
    finally:
        world.destroy()


def main(
    runs: Annotated[int, typer.Option(help="Measured runs per rate.")] = 3,
    seconds: Annotated[float, typer.Option(help="Length of one run at steady rate.")] = 15,
    rates: Annotated[str, typer.Option(help="Comma-separated payments/s.")] = "1000,5000",
) -> None:
    """Measure risk decision latency at steady rates and write docs/benchmarks.md."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    figures: list[Figure] = []
    notes: list[str] = []
    for rate in (float(r) for r in rates.split(",")):
        p99s, broker_p99s, every, every_broker, missing = [], [], [], [], 0
        for run in range(runs):
            lat, rt, lost = latency_run(settings, rate, seconds)
            every += lat
            every_broker += rt
            missing += lost
            p99s.append(percentile(lat, 99))
            broker_p99s.append(percentile(rt, 99))
            console.log(
                f"{rate:,.0f}/s run {run + 1}: p50 {percentile(lat, 50):.1f} ms, p99 "
                f"{p99s[-1]:.1f} ms, p99.9 {percentile(lat, 99.9):.1f} ms; broker p99 "
                f"{broker_p99s[-1]:.1f} ms; undecided after 60 s: {lost}"
            )
        name = f"risk.decision_latency_p99_ms_at_{rate / 1000:.0f}k"
        figures.append(
            Figure(
                name,
                "ms",
                p99s,
                f"python -m bench.risk --runs {runs} --seconds {seconds:.0f} --rates {rates}",
                "broker produce-to-consume round trip p99, same run",
                broker_p99s,
                "< 25" if rate == 1000 else None,
                higher_is_better=False,
            )
        )
        notes.append(
            f"At {rate:,.0f}/s ({runs} runs × {seconds:.0f} s): decision p50 "
            f"{percentile(every, 50):.1f} ms, p99 {percentile(every, 99):.1f} ms, p99.9 "
            f"{percentile(every, 99.9):.1f} ms; broker round trip p50 "
            f"{percentile(every_broker, 50):.1f} ms, p99 {percentile(every_broker, 99):.1f} ms; "
            f"payments without a decision 60 s after the last send: {missing}."
        )
    notes.append(
        "One risk agent process (`paystream streams risk`, rules only: no champion registered "
        "for the bench's model name), 6 partitions, after a 3,000-payment warm-up (JVMs, "
        "connections, Gremlin's script cache). Latency runs from handing the authorization to "
        "the producer to reading its decision from `paystream.decisions`, so it includes the "
        "Redis write and the broker's acknowledgement of the decision. The load generator and "
        "both timing consumers share the 2 cores with the agent and the servers."
    )
    write("Risk decisions", figures, "\n\n".join(notes))


if __name__ == "__main__":
    typer.run(main)
