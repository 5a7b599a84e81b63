"""Batch scoring into Redis, in the shape the API reads (:mod:`paystream.contracts.served`).

Each customer's top-N list at a merchant is one JSON string at
``ServedKeys.recommendations(customer, merchant)``; each merchant's cold-start list sits at
``ServedKeys.popular(merchant)``. Every list names the registered model
and version whose run produced it; each item's ``source`` says which algorithm ranked it
(``als``, ``graph`` or ``popularity``). Writes go through non-transactional pipelines in
chunks: one round trip per chunk, and a reader never waits on a lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paystream.contracts.served import Recommendations, RecommendedItem, ServedKeys
from paystream.errors import ServiceUnavailableError
from paystream.settings import RedisSettings


def redis_client(settings: RedisSettings) -> Any:
    """A Redis client checked to answer.

    Raises:
        ServiceUnavailableError: Redis does not answer, naming the command that starts it.
    """
    import redis

    from paystream.stores.redis import sync_client

    client = sync_client(settings, decode_responses=False)
    try:
        client.ping()
    except redis.RedisError as exc:
        # The URL may hold a password: name the service, not the URL.
        raise ServiceUnavailableError("Redis", "the configured redis.url", str(exc)) from exc
    return client


@dataclass(frozen=True)
class ServeStats:
    """How many lists were written and how long the writes took."""

    customers: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Customers written per second."""
        return self.customers / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Served:
    """Who produced the lists: the registered model name and version."""

    model_name: str
    model_version: str

    def document(self, customer_id: str | None, items: Sequence[RecommendedItem]) -> str:
        """The JSON stored for one customer (or for the popular list)."""
        return Recommendations(
            customer_id=customer_id,
            items=list(items),
            model_name=self.model_name,
            model_version=self.model_version,
            generated_at=datetime.now(UTC),
        ).model_dump_json()


#: ``(merchant_id, customer_id)``: who a served list is for.
Audience = tuple[str, str]


def write_recommendations(
    client: Any,
    keys: ServedKeys,
    served: Served,
    lists: Mapping[Audience, Sequence[RecommendedItem]]
    | Iterator[tuple[Audience, Sequence[RecommendedItem]]],
    *,
    chunk_size: int = 1000,
    ttl_s: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> ServeStats:
    """Write customers' lists in pipelined chunks; empty lists are skipped (the API then
    falls back to the popular list)."""
    pairs = iter(lists.items()) if isinstance(lists, Mapping) else lists
    written = 0
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    pending = 0
    for (merchant, customer), items in pairs:
        if not items:
            continue
        key = keys.recommendations(customer, merchant)
        pipe.set(key, served.document(customer, items), ex=ttl_s)
        pending += 1
        if pending >= chunk_size:
            pipe.execute()
            written += pending
            if advance is not None:
                advance(pending)
            pending = 0
    if pending:
        pipe.execute()
        written += pending
        if advance is not None:
            advance(pending)
    return ServeStats(written, time.perf_counter() - started)


def write_popular(
    client: Any,
    keys: ServedKeys,
    served: Served,
    merchant_id: str,
    items: Sequence[RecommendedItem],
) -> None:
    """Write one merchant's cold-start list."""
    client.set(keys.popular(merchant_id), served.document(None, items))


def read_recommendations(
    client: Any, keys: ServedKeys, customer_id: str, merchant_id: str
) -> tuple[Recommendations | None, bool]:
    """What the API would serve a merchant: the customer's list, else the popular one.

    Returns the list (None when nothing is served at all) and whether it is the fallback.
    """
    raw = client.get(keys.recommendations(customer_id, merchant_id))
    if raw is not None:
        return Recommendations.model_validate_json(raw), False
    popular = client.get(keys.popular(merchant_id))
    if popular is None:
        return None, True
    return Recommendations.model_validate_json(popular), True
