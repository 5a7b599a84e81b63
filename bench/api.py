"""API latency and throughput: GET recommendations and GET statements beside a trivial endpoint.

One ``paystream api serve`` process (one uvicorn worker) on loopback, in an isolated world:
its own Redis namespace, ledger database and gold tables under a temporary lakehouse root.
Load comes from ``wrk`` (Debian's package) with 8 connections on one thread, or, when wrk is
missing, from a bounded asyncio httpx generator with 8 concurrent connections. Each run
measures the trivial endpoint (``/healthz``: same app, same middleware, no I/O), then
recommendations, then statements, so every figure has its reference from the same run.

    .venv/bin/python -m bench.api --runs 5 --seconds 15
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from sqlalchemy import insert

from api.keys import admin_store
from bench.record import Figure, write
from harness.sample_gold import SampleSpec, served_commands, write_gold
from harness.worlds import create_ledger_database, drop_ledger_database
from paystream.ledger.models import Payment
from paystream.settings import Settings, get_settings
from paystream.stores.mysql import primary_engine
from paystream.stores.redis import async_client, sync_client

console = Console()
CONNECTIONS = 8
PAYSTREAM = str(Path(sys.executable).parent / "paystream")


@dataclass(frozen=True)
class Load:
    """One measurement of one endpoint."""

    p50_ms: float
    p99_ms: float
    rps: float
    requests: int


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no {label}% latency:\n{text}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def load_wrk(url: str, key: str, seconds: float) -> Load:
    """Drive ``url`` with wrk (1 thread, 8 connections) for ``seconds``."""
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["-H", f"X-API-Key: {key}", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers under load from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(_wrk_ms(out, "50"), _wrk_ms(out, "99"), rps, total)


def load_httpx(url: str, key: str, seconds: float, max_requests: int = 200_000) -> Load:
    """Bounded asyncio load: 8 connections, stops at ``seconds`` or ``max_requests``."""

    async def go() -> Load:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(headers={"X-API-Key": key}, limits=limits) as client:

            async def worker() -> None:
                while time.perf_counter() < deadline and len(latencies) < max_requests:
                    started = time.perf_counter()
                    res = await client.get(url)
                    if res.status_code != 200:
                        raise RuntimeError(f"{url} answered {res.status_code}: {res.text[:200]}")
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - started
        ordered = sorted(latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return Load(pick(0.50), pick(0.99), len(ordered) / elapsed, len(ordered))

    return asyncio.run(go())


@dataclass
class World:
    """The isolated world the benchmark server runs in."""

    settings: Settings
    database: str
    lakehouse: Path
    spec: SampleSpec


def build_world(merchants: int, days: int, customers: int) -> World:
    """Gold tables, ledger rows and served recommendations for the benchmark."""
    base = get_settings()
    tag = f"bench{uuid.uuid4().hex[:8]}"
    lakehouse = Path(tempfile.mkdtemp(prefix="paystream-bench-api-"))
    spec = SampleSpec(
        merchants=[f"M{n:04d}" for n in range(merchants)],
        customers=[f"C{n:05d}" for n in range(customers)],
        days=days,
    )
    database = f"paystream_{tag}"
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"topic_prefix": tag}),
            "mysql": create_ledger_database(base.mysql, database),
            "streams": base.streams.model_copy(update={"namespace": tag}),
            "lakehouse": base.lakehouse.model_copy(update={"root": lakehouse}),
        }
    )
    with console.status(f"writing gold: {merchants} merchants x {days} days"):
        write_gold(lakehouse, spec)
    now = datetime.now(UTC).replace(tzinfo=None)
    primary = primary_engine(settings.mysql)
    with primary.begin() as conn:
        conn.execute(
            insert(Payment),
            [
                {
                    "payment_id": f"bench-{c}",
                    "customer_id": c,
                    "merchant_id": spec.merchants[0],
                    "amount_minor": 100,
                    "currency": "GBP",
                    "status": "captured",
                    "refunded_minor": 0,
                    "updated_at": now,
                }
                # The first ten (the security probes read them as merchants[0]'s), and every
                # customer whose served list is merchants[0]'s (harness.sample_gold).
                for c in dict.fromkeys(
                    [
                        *spec.customers[:10],
                        *spec.customers[len(spec.merchants) :: len(spec.merchants)],
                    ]
                )
            ],
        )
    primary.dispose()
    client = sync_client(settings.redis, decode_responses=False)
    for key, value in served_commands(settings.streams.namespace, spec):
        client.set(key, value)
    client.close()
    return World(settings, database, lakehouse, spec)


def destroy_world(world: World) -> None:
    """Drop the ledger database, the Redis namespace and the gold folder."""
    client = sync_client(world.settings.redis, decode_responses=False)
    keys = list(client.scan_iter(f"{world.settings.streams.namespace}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()
    drop_ledger_database(world.settings.mysql, world.database)
    shutil.rmtree(world.lakehouse, ignore_errors=True)


def create_key(settings: Settings, merchant: str) -> str:
    """A merchant key whose bucket never empties during the benchmark."""

    async def go() -> str:

        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            return (await store.create("merchant", merchant, None, 1e9, 1_000_000_000))[1]
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    return asyncio.run(go())


def start_server(world: World, port: int) -> subprocess.Popen[bytes]:
    """``paystream api serve`` in the world, waiting until /healthz answers."""
    s = world.settings
    env = {
        **os.environ,
        "PAYSTREAM_STREAMS__NAMESPACE": s.streams.namespace,
        "PAYSTREAM_LAKEHOUSE__ROOT": str(world.lakehouse),
        "PAYSTREAM_MYSQL__PRIMARY_URL": s.mysql.primary_url.get_secret_value(),
        "PAYSTREAM_MYSQL__REPLICA_URL": s.mysql.replica_url.get_secret_value(),
        "PAYSTREAM_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix,
    }
    argv = [PAYSTREAM, "api", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the API server did not answer /healthz within 60 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(
    runs: Annotated[int, typer.Option(help="Measured runs (median reported).")] = 3,
    seconds: Annotated[float, typer.Option(help="Seconds of load per endpoint per run.")] = 10,
    merchants: Annotated[int, typer.Option(help="Merchants in gold statements.")] = 200,
    days: Annotated[int, typer.Option(help="Days of statements per merchant.")] = 365,
    tool: Annotated[str, typer.Option(help="wrk, httpx or auto.")] = "auto",
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md and JSON.")] = True,
) -> None:
    """Measure p50/p99 and req/s of recommendations and statements beside /healthz."""
    use_wrk = tool == "wrk" or (tool == "auto" and shutil.which("wrk") is not None)
    generator = "wrk 4.1 (1 thread, 8 connections)" if use_wrk else "asyncio httpx (8 conns)"
    drive = load_wrk if use_wrk else load_httpx
    # Twice the merchants: customer number `merchants` has a personal list at merchants[0].
    world = build_world(merchants, days, customers=2 * merchants)
    port = _free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_server(world, port)
        key = create_key(world.settings, world.spec.merchants[0])
        base = f"http://127.0.0.1:{port}"
        customer = world.spec.customers[len(world.spec.merchants)]
        merchant = world.spec.merchants[0]
        targets = {
            "trivial": f"{base}/healthz",
            "recommendations": f"{base}/v1/customers/{customer}/recommendations?limit=10",
            "statements": (
                f"{base}/v1/merchants/{merchant}/statements?from=2011-03-01&to=2011-03-31"
                "&granularity=day"
            ),
        }
        for name, url in targets.items():  # warm-up: pools, caches, Delta handles
            check = httpx.get(url, headers={"X-API-Key": key}, timeout=30)
            if check.status_code != 200:
                raise RuntimeError(f"{name} answered {check.status_code}: {check.text[:300]}")
            if name == "recommendations" and check.json()["fallback"]:
                raise RuntimeError("the benchmark customer has no personal list to serve")
            drive(url, key, min(2.0, seconds))
        results: dict[str, list[Load]] = {name: [] for name in targets}
        for run in range(runs):
            for name, url in targets.items():
                results[name].append(drive(url, key, seconds))
                last = results[name][-1]
                console.print(
                    f"run {run + 1}/{runs} {name:16s} p50 {last.p50_ms:7.2f} ms  "
                    f"p99 {last.p99_ms:7.2f} ms  {last.rps:8.0f} req/s  ({last.requests} req)"
                )
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        destroy_world(world)
    command = (
        f"python -m bench.api --runs {runs} --seconds {seconds:g} --merchants {merchants} "
        f"--days {days}"
    )
    trivial_p99 = [r.p99_ms for r in results["trivial"]]
    figures = [
        Figure(
            "api.recommendations_p99_ms",
            "ms",
            [r.p99_ms for r in results["recommendations"]],
            command,
            "GET /healthz p99, same server, same run",
            trivial_p99,
            higher_is_better=False,
        ),
        Figure(
            "api.recommendations_rps_over_trivial",
            "ratio",
            [
                r.rps / t.rps
                for r, t in zip(results["recommendations"], results["trivial"], strict=True)
            ],
            command,
        ),
        Figure(
            "api.statements_p99_ms",
            "ms",
            [r.p99_ms for r in results["statements"]],
            command,
            "GET /healthz p99, same server, same run",
            trivial_p99,
            higher_is_better=False,
        ),
    ]
    rps = {n: statistics.median(r.rps for r in results[n]) for n in targets}
    p50 = {n: statistics.median(r.p50_ms for r in results[n]) for n in targets}
    notes = (
        f"Load generator: {generator}, loopback, {seconds:g} s per endpoint per run, "
        f"endpoints alternated within each run after a warm-up. One uvicorn worker.\n"
        f"Median req/s: trivial {rps['trivial']:.0f}, recommendations "
        f"{rps['recommendations']:.0f}, statements {rps['statements']:.0f}. Median p50 ms: "
        f"trivial {p50['trivial']:.2f}, recommendations {p50['recommendations']:.2f}, "
        f"statements {p50['statements']:.2f}. Statements read {merchants} merchants x "
        f"{days} days of gold `merchant_statements` (one month of one merchant per request)."
    )
    console.print(notes)
    if record:
        write("API", figures, notes)


if __name__ == "__main__":
    typer.run(main)
