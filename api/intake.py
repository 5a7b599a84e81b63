"""Payment intake: the Kafka producer and the idempotency records.

These are the API's only writes: the ``payment.authorized`` event on the payments topic and,
in Redis, one idempotency record per (merchant, Idempotency-Key) kept for
``api.idempotency_ttl_s``. Ledger, graph and every other store are filled by the stream
workers from the event, never by the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from paystream.bus.kafka import event_record, new_producer
from paystream.contracts import Event, event_id_for
from paystream.contracts.keys import key_part
from paystream.errors import ServiceUnavailableError
from paystream.settings import KafkaSettings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 10.0


class IntakeProducer:
    """One aiokafka producer per process (acks=all), started lazily again after a failure."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    def _down(self, detail: str) -> ServiceUnavailableError:
        return ServiceUnavailableError("Kafka", self.settings.bootstrap_servers, detail)

    async def start(self) -> None:
        """Connect; raises ServiceUnavailableError naming Kafka if the broker is down."""
        async with self._lock:
            if self._producer is not None:
                return
            producer = new_producer(self.settings, low_latency=True)
            try:
                await asyncio.wait_for(producer.start(), START_TIMEOUT_S)
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                raise self._down(type(exc).__name__) from exc
            self._producer = producer

    async def stop(self) -> None:
        """Flush and close."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, event: Event) -> None:
        """Send one event keyed by its partition key and wait for acks=all.

        Raises:
            ServiceUnavailableError: the broker did not acknowledge in time.
        """
        await self.start()
        assert self._producer is not None
        record = event_record(self.settings, event)
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=list(record.headers)
                ),
                SEND_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            raise self._down(type(exc).__name__) from exc

    async def check(self, topic: str) -> None:
        """Readiness: the broker answers a metadata request for ``topic``."""
        await self.start()
        assert self._producer is not None
        try:
            partitions = await asyncio.wait_for(self._producer.partitions_for(topic), 3.0)
        except (KafkaError, TimeoutError) as exc:
            raise self._down(type(exc).__name__) from exc
        if not partitions:
            raise self._down(f"topic {topic} has no partitions")


def body_hash(payload: dict[str, Any]) -> str:
    """Hash of a request body's canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """Outcome of claiming an Idempotency-Key."""

    state: Literal["new", "replay", "conflict", "in_progress"]
    status: int = 0
    response: dict[str, Any] | None = None


def payment_event_id(merchant_id: str, idempotency_key: str, digest: str) -> uuid.UUID:
    """The event (and payment) id of an intake request: its merchant, key *and* body.

    With the key alone, the same key reused with another body after its record expired (or
    after a failed publish released it) got the first payment's id, and the ledger silently
    dropped the new payment as a repeat. With the body's hash in it, a retry of the same
    request still maps to the same payment, whenever it comes, and a different request never
    does.
    """
    return event_id_for("api", "payment", merchant_id, idempotency_key, digest)


#: How long a claim may stay pending: a request that crashed mid-publish frees its key after
#: this, rather than answering 409 for the record's whole lifetime.
PENDING_LEASE_S = 60


class IdempotencyStore:
    """``SET NX`` records: first a pending claim (short lease), then the response to replay."""

    def __init__(
        self, redis: Redis[Any], namespace: str, ttl_s: int, lease_s: int = PENDING_LEASE_S
    ) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:api:idem:"
        self.ttl_s = ttl_s
        self.lease_s = min(lease_s, ttl_s)

    def _key(self, merchant_id: str, idempotency_key: str) -> str:
        # Hashed so that any header value makes a bounded, safe Redis key.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"{self.prefix}{key_part(merchant_id)}:{digest}"

    async def claim(self, merchant_id: str, idempotency_key: str, digest: str) -> Claim:
        """Claim the key for a body hash, or report what an earlier request left."""
        key = self._key(merchant_id, idempotency_key)
        pending = json.dumps({"body_hash": digest, "state": "pending"})
        if await self.redis.set(key, pending, nx=True, ex=self.lease_s):
            return Claim("new")
        raw = await self.redis.get(key)
        if raw is None:  # expired between the two calls: claim again
            return await self.claim(merchant_id, idempotency_key, digest)
        record = json.loads(raw)
        if record["body_hash"] != digest:
            return Claim("conflict")
        if record["state"] == "pending":
            return Claim("in_progress")
        return Claim("replay", int(record["status"]), record["response"])

    async def complete(
        self, merchant_id: str, idempotency_key: str, digest: str, status: int, response: Any
    ) -> None:
        """Store the response so that retries get exactly the same answer."""
        record = {"body_hash": digest, "state": "done", "status": status, "response": response}
        await self.redis.set(
            self._key(merchant_id, idempotency_key), json.dumps(record), ex=self.ttl_s
        )

    async def release(self, merchant_id: str, idempotency_key: str) -> None:
        """Drop a pending claim whose request failed, so the client can retry."""
        await self.redis.delete(self._key(merchant_id, idempotency_key))
