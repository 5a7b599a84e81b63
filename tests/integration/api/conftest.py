"""An isolated API world: its own Redis namespace, ledger database, topics and gold tables,
served by the real app under uvicorn on a free port."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, insert, text

from api.app import create_app
from api.keys import admin_store
from compose.local.process import free_port
from harness.api_server import ServerThread
from harness.sample_gold import SampleSpec, decision, served_commands, write_gold
from harness.worlds import create_ledger_database, drop_ledger_database
from paystream.bus.kafka import drop_topics, ensure_topics
from paystream.contracts.served import ServedKeys
from paystream.ledger.models import Payment
from paystream.settings import Settings


@dataclass
class ApiWorld:
    settings: Settings
    url: str
    spec: SampleSpec
    keys: dict[str, str] = field(default_factory=dict)
    lakehouse: Path | None = None
    database: str = ""
    app: object = None

    def client(self, key: str | None = None, raw_key: str | None = None) -> httpx.Client:
        secret = raw_key or (self.keys[key] if key else None)
        headers = {"X-API-Key": secret} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def create_key(self, **kwargs) -> str:
        async def go() -> str:
            from redis.asyncio import Redis

            client = Redis.from_url(
                self.settings.redis.url.get_secret_value(), decode_responses=True
            )
            store, database = admin_store(self.settings, client)
            try:
                return (await store.create(**kwargs))[1]
            finally:
                database.dispose()
                await client.aclose()

        return asyncio.run(go())


def _seed_ledger(settings: Settings, spec: SampleSpec) -> None:
    """Payments rows as the stream workers would write them, then wait for the replica."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for c_index, customer in enumerate(spec.customers):
        for n in range(2):
            merchant = spec.merchants[c_index % len(spec.merchants)]
            rows.append(
                {
                    "payment_id": f"pay-{customer}-{n}",
                    "customer_id": customer,
                    "merchant_id": merchant,
                    "amount_minor": 1000 + n,
                    "currency": "GBP",
                    "status": "captured",
                    "method": "card",
                    "refunded_minor": 0,
                    "authorized_at": now - timedelta(minutes=5),
                    "captured_at": now,
                    "updated_at": now,
                }
            )
    primary = create_engine(settings.mysql.primary_url.get_secret_value())
    with primary.begin() as conn:
        conn.execute(insert(Payment.__table__), rows)
    primary.dispose()
    replica = create_engine(settings.mysql.replica_url.get_secret_value())
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with replica.connect() as conn:
                    count = conn.execute(text("SELECT COUNT(*) FROM payments")).scalar_one()
                if count >= len(rows):
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not catch up with the seeded payments")
            time.sleep(0.2)
    finally:
        replica.dispose()


def _seed_redis(settings: Settings, spec: SampleSpec) -> None:
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = ServedKeys(settings.streams.namespace)
    try:
        for key, value in served_commands(settings.streams.namespace, spec):
            client.set(key, value)
        for c_index, customer in enumerate(spec.customers):
            merchant = spec.merchants[c_index % len(spec.merchants)]
            stored = decision(f"pay-{customer}-0", customer, merchant)
            client.hset(keys.decision(stored.payment_id), mapping=stored.to_hash())
    finally:
        client.close()


def _purge_namespace(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        keys = list(client.scan_iter(f"{settings.streams.namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def api_world(stack, settings, tmp_path_factory):
    tag = f"api{uuid.uuid4().hex[:8]}"
    lakehouse = tmp_path_factory.mktemp("lakehouse")
    spec = SampleSpec(merchants=["M-alpha", "M-beta"], customers=[f"C{n}" for n in range(6)])
    database = f"paystream_{tag}"
    world_settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"topic_prefix": tag, "partitions": 3}),
            "mysql": create_ledger_database(settings.mysql, database),
            "streams": settings.streams.model_copy(update={"namespace": tag}),
            "lakehouse": settings.lakehouse.model_copy(update={"root": lakehouse}),
            "api": settings.api.model_copy(
                update={"gold_refresh_s": 0.5, "recommender_experiment": f"{tag}-no-runs"}
            ),
        }
    )
    asyncio.run(ensure_topics(world_settings.kafka, [world_settings.kafka.topic("payments")]))
    write_gold(lakehouse, spec)
    _seed_ledger(world_settings, spec)
    _seed_redis(world_settings, spec)
    app = create_app(world_settings)
    server = ServerThread(app, free_port()).start()
    world = ApiWorld(
        world_settings, server.url, spec, lakehouse=lakehouse, database=database, app=app
    )
    world.keys["alpha"] = world.create_key(role="merchant", merchant_id="M-alpha")
    world.keys["beta"] = world.create_key(role="merchant", merchant_id="M-beta")
    # Customers C0, C2, C4 pay M-alpha; C1, C3, C5 pay M-beta. An app-side key for C0:
    world.keys["alpha_c0"] = world.create_key(
        role="merchant", merchant_id="M-alpha", customer_id="C0"
    )
    world.keys["analyst"] = world.create_key(role="analyst")
    try:
        yield world
    finally:
        server.stop()
        _purge_namespace(world_settings)
        drop_ledger_database(world_settings.mysql, database)
        asyncio.run(drop_topics(world_settings.kafka))
