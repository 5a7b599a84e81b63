"""The API benchmarks' isolated world (``bench.api``, ``bench.security``).

Gold tables under a temporary lakehouse root, a ledger database of its own, served
recommendations in a Redis namespace of its own, a merchant key, and ``paystream api serve``
started on loopback in that world.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy import insert

from api.keys import admin_store
from harness.sample_gold import SampleSpec, served_commands, write_gold
from harness.worlds import create_ledger_database, drop_ledger_database
from paystream.bus.kafka import drop_topics
from paystream.ledger.models import Payment
from paystream.settings import Settings, get_settings
from paystream.stores.mysql import primary_engine
from paystream.stores.redis import async_client, sync_client

console = Console()
PAYSTREAM = str(Path(sys.executable).parent / "paystream")


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
    """Drop the ledger database, the topics, the Redis namespace and the gold folder."""
    client = sync_client(world.settings.redis, decode_responses=False)
    keys = list(client.scan_iter(f"{world.settings.streams.namespace}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()
    drop_ledger_database(world.settings.mysql, world.database)
    asyncio.run(drop_topics(world.settings.kafka))
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
