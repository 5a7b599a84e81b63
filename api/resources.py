"""Everything the API holds for its lifetime: clients created once, in the lifespan.

Nothing connects at import. The MySQL engine is built on the read replica only: the API has
no engine on the primary to misuse. A dependency that is down at start-up does not stop the
API; the endpoints that need it answer 503 naming it, and ``/readyz`` says which.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import Engine, text

from api.auth import KeyStore, TokenIssuer
from api.gold import GoldTables
from api.intake import IdempotencyStore, IntakeProducer
from api.keys import KeyLedger
from api.metrics import ApiMetrics
from api.ratelimit import RateLimiter
from paystream.contracts.served import ServedKeys
from paystream.settings import Settings
from paystream.stores.mysql import replica_engine
from paystream.stores.redis import async_client

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2.0
# Positive "customer has paid this merchant" answers are cached this long.
MEMBERSHIP_TTL_S = 60.0


def build_reader(settings: Settings) -> Engine:
    """SQLAlchemy engine on the MySQL read replica (never the primary)."""
    # Fail fast when the replica is down: the request becomes a 503, not a hang.
    return replica_engine(settings.mysql, fail_fast=True)


@dataclass
class Resources:
    """The clients of one API process."""

    settings: Settings
    redis: Redis[Any]
    reader: Engine
    producer: IntakeProducer
    gold: GoldTables
    keys: KeyStore
    tokens: TokenIssuer
    limiter: RateLimiter
    idempotency: IdempotencyStore
    served: ServedKeys
    metrics: ApiMetrics
    http: httpx.AsyncClient
    _members: dict[tuple[str, str], float] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, metrics: ApiMetrics) -> Resources:
        """Build the clients (no connection is opened yet)."""
        ns = settings.streams.namespace
        jwt_secret, key_pepper = settings.api.require_secrets()
        reader = build_reader(settings)
        redis = async_client(settings.redis, timeout_s=REDIS_TIMEOUT_S)
        return cls(
            settings=settings,
            redis=redis,
            reader=reader,
            producer=IntakeProducer(settings.kafka),
            gold=GoldTables(settings.lakehouse.root, settings.api.gold_refresh_s),
            keys=KeyStore(redis, ns, key_pepper, KeyLedger(reader)),
            tokens=TokenIssuer(jwt_secret),
            limiter=RateLimiter(
                redis, ns, settings.api.rate_limit_per_s, settings.api.rate_limit_burst
            ),
            idempotency=IdempotencyStore(redis, ns, settings.api.idempotency_ttl_s),
            served=ServedKeys(ns),
            metrics=metrics,
            http=httpx.AsyncClient(timeout=5.0),
        )

    async def close(self) -> None:
        """Release every client."""
        await self.producer.stop()
        await self.http.aclose()
        await self.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
        self.reader.dispose()

    def known_member(self, customer_id: str, merchant_id: str) -> bool:
        """True if a recent replica lookup already showed the pair (no I/O)."""
        seen = self._members.get((customer_id, merchant_id))
        return seen is not None and time.monotonic() - seen < MEMBERSHIP_TTL_S

    def customer_paid_merchant(self, customer_id: str, merchant_id: str) -> bool:
        """True if the ledger (replica) has a payment of ``customer_id`` at ``merchant_id``.

        This decides whether a merchant key may see a customer at all.
        """
        now = time.monotonic()
        seen = self._members.get((customer_id, merchant_id))
        if seen is not None and now - seen < MEMBERSHIP_TTL_S:
            return True
        with self.reader.connect() as conn:
            row = conn.execute(
                text("SELECT 1 FROM payments WHERE customer_id = :c AND merchant_id = :m LIMIT 1"),
                {"c": customer_id, "m": merchant_id},
            ).first()
        if row is None:
            return False
        if len(self._members) > 100_000:
            self._members.clear()
        self._members[(customer_id, merchant_id)] = now
        return True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the resources on start-up and release them on shutdown."""
    resources: Resources = app.state.resources
    api = resources.settings.api
    metrics_server = None
    if api.metrics_port is not None:
        from prometheus_client import start_http_server

        metrics_server, _ = start_http_server(
            api.metrics_port, addr=api.host, registry=resources.metrics.registry
        )
        log.info("metrics on http://%s:%d/metrics", api.host, api.metrics_port)
    try:
        await resources.producer.start()
    except Exception as exc:
        log.warning("Kafka producer not started (payments will answer 503 until it is): %s", exc)
    try:
        yield
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await asyncio.shield(resources.close())
