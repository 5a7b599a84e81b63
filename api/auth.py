"""API keys and JWTs: who is calling, and which merchant (and customer) they may see.

API keys look like ``psk_<key id>_<secret>``. Only an HMAC-SHA256 of the whole key, keyed by
the ``api.key_pepper`` secret, is stored: in the ledger's ``api_keys`` table (the system of
record, :mod:`api.keys`) and, as a cache, in the Redis hash ``{ns}:api:keys`` (field = key
id), so neither a dump nor a log line can be turned back into a working key. A key is scoped
to one merchant, optionally to one customer of it (the app side), or carries the ``analyst``
role for the dashboard. JWTs (HS256, ``api.jwt_secret``) carry the same scope as claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import jwt
from pydantic import BaseModel
from redis.asyncio import Redis

from paystream.contracts.keys import key_part

if TYPE_CHECKING:
    from api.keys import KeyLedger

Role = Literal["merchant", "analyst"]
KEY_PREFIX = "psk"


class Principal(BaseModel):
    """An authenticated caller and its scope."""

    key_id: str
    role: Role
    merchant_id: str | None = None
    customer_id: str | None = None
    rate_per_s: float | None = None
    burst: int | None = None


class KeyRecord(BaseModel):
    """What the key store holds for one key (never the key itself)."""

    key_hash: str
    role: Role
    merchant_id: str | None = None
    customer_id: str | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    created_at: datetime

    def principal(self, key_id: str) -> Principal:
        """The caller this record authenticates."""
        return Principal(
            key_id=key_id,
            role=self.role,
            merchant_id=self.merchant_id,
            customer_id=self.customer_id,
            rate_per_s=self.rate_per_s,
            burst=self.burst,
        )


#: How long Redis remembers that a key id is unknown or revoked.
ABSENT_S = 60


def keys_hash_name(namespace: str) -> str:
    """Redis hash holding the key records of one namespace."""
    return f"{namespace}:api:keys"


def hash_key(pepper: str, key: str) -> str:
    """HMAC-SHA256 of a full API key."""
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def split_key(key: str) -> str | None:
    """Key id of a well-formed API key, else None."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def validate_scope(role: Role, merchant_id: str | None, customer_id: str | None) -> None:
    """Reject scopes that make no sense (raises ValueError with the reason)."""
    if role == "merchant" and not merchant_id:
        raise ValueError("a merchant key needs --merchant")
    if customer_id and not merchant_id:
        raise ValueError("--customer needs --merchant: customers are seen through a merchant")
    if role == "analyst" and (merchant_id or customer_id):
        raise ValueError("an analyst key is not scoped to a merchant or customer")


class KeyStore:
    """Creates and verifies API keys: the ledger is their system of record, Redis their cache.

    A lookup tries this process's cache (:attr:`cache_s`, 1 s by default), then Redis, then
    the ledger's replica, and fills Redis from what it finds. Unknown ids are cached as absent
    in Redis for :data:`ABSENT_S`, so random ids cannot hammer the database. A revocation
    marks the ledger row, drops the Redis copy and leaves an absent marker, so every API
    process stops accepting the key within ``cache_s``.
    """

    def __init__(
        self,
        redis: Redis[Any],
        namespace: str,
        pepper: str,
        ledger: KeyLedger,
        cache_s: float = 1.0,
    ) -> None:
        self.redis = redis
        self.name = keys_hash_name(namespace)
        self.absent_prefix = f"{namespace}:api:nokey:"
        self.pepper = pepper
        self.ledger = ledger
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}

    async def create(
        self,
        role: Role = "merchant",
        merchant_id: str | None = None,
        customer_id: str | None = None,
        rate_per_s: float | None = None,
        burst: int | None = None,
    ) -> tuple[str, str]:
        """Create a key; return ``(key_id, key)``. The key is shown once and never stored."""
        validate_scope(role, merchant_id, customer_id)
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(24).replace('_', '-')}"
        record = KeyRecord(
            key_hash=hash_key(self.pepper, key),
            role=role,
            merchant_id=merchant_id,
            customer_id=customer_id,
            rate_per_s=rate_per_s,
            burst=burst,
            created_at=datetime.now(UTC),
        )
        # The ledger first: a key exists once its record is durable.
        await asyncio.to_thread(self.ledger.insert, key_id, record)
        # Written through, so a new key works at once even where the replica lags.
        await self.redis.hset(self.name, key_id, record.model_dump_json())
        return key_id, key

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; True if it was live. Every API process refuses it within cache_s."""
        self._cache.pop(key_id, None)
        revoked = await asyncio.to_thread(self.ledger.revoke, key_id)
        await self.redis.hdel(self.name, key_id)
        await self.redis.set(self._absent(key_id), "1", ex=ABSENT_S)
        return revoked

    def _absent(self, key_id: str) -> str:
        # The id comes from whatever key a caller sends ("psk_<id>_..."): encoded, it can name
        # no other key and choose no cluster slot.
        return self.absent_prefix + key_part(key_id)

    async def _record(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        record = await self._shared_record(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now, record)
        return record

    async def _shared_record(self, key_id: str) -> KeyRecord | None:
        raw = await self.redis.hget(self.name, key_id)
        if raw:
            return KeyRecord.model_validate_json(raw)
        if await self.redis.exists(self._absent(key_id)):
            return None
        # Not in Redis (never cached, or Redis lost its data): the ledger decides.
        record = await asyncio.to_thread(self.ledger.get, key_id)
        if record is None:
            await self.redis.set(self._absent(key_id), "1", ex=ABSENT_S)
        else:
            await self.redis.hset(self.name, key_id, record.model_dump_json())
        return record

    async def verify(self, key: str) -> Principal | None:
        """The principal of a valid key, else None."""
        key_id = split_key(key)
        if key_id is None:
            return None
        record = await self._record(key_id)
        if record is None:
            return None
        if not hmac.compare_digest(record.key_hash, hash_key(self.pepper, key)):
            return None
        return record.principal(key_id)


#: Longest lifetime a token may be issued for: a JWT cannot be revoked before it expires.
MAX_TOKEN_TTL = timedelta(hours=24)
#: The audience every token names and every check requires, so a token minted for another
#: service with the same secret is not accepted here.
AUDIENCE = "paystream-api"


@dataclass(frozen=True)
class TokenIssuer:
    """Signs and verifies HS256 JWTs carrying a principal's scope.

    Tokens carry ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` and a unique ``jti``; all are
    required on the way in. Lifetimes are capped at :data:`MAX_TOKEN_TTL`.
    """

    secret: str
    issuer: str = "paystream"

    def issue(
        self,
        subject: str,
        role: Role = "merchant",
        merchant_id: str | None = None,
        customer_id: str | None = None,
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        """A signed token valid for ``ttl`` (at most :data:`MAX_TOKEN_TTL`).

        Raises:
            ValueError: the lifetime is not positive or exceeds the cap, or the scope is invalid.
        """
        if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
            raise ValueError(f"a token lives more than 0 s and at most {MAX_TOKEN_TTL}, not {ttl}")
        validate_scope(role, merchant_id, customer_id)
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "jti": uuid.uuid4().hex,
            "sub": subject,
            "iat": now,
            "exp": now + ttl,
            "role": role,
            "merchant_id": merchant_id,
            "customer_id": customer_id,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired token, else None."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                audience=AUDIENCE,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
            # exp is checked by the library; a token claiming a longer life was not ours.
            if claims["exp"] - claims["iat"] > MAX_TOKEN_TTL.total_seconds():
                return None
            role = claims.get("role", "merchant")
            validate_scope(role, claims.get("merchant_id"), claims.get("customer_id"))
            return Principal(
                key_id=f"jwt:{claims['sub']}",
                role=role,
                merchant_id=claims.get("merchant_id"),
                customer_id=claims.get("customer_id"),
            )
        except (jwt.PyJWTError, ValueError, KeyError):
            return None


def record_summary(raw: str | bytes) -> dict[str, object]:
    """A key record without its hash, for listings."""
    doc = json.loads(raw)
    doc.pop("key_hash", None)
    return dict(doc)


async def verify_credentials(tokens: TokenIssuer, keys: KeyStore, secret: str) -> Principal | None:
    """The principal of a JWT (three dot-separated parts) or an API key, else None."""
    if secret.count(".") == 2:
        return tokens.verify(secret)
    return await keys.verify(secret)
