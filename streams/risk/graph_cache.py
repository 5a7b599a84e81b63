"""Graph features from the Redis cache that the state projection keeps warm.

The same three features as the Gremlin script (:data:`streams.risk.lookup.GRAPH_SCRIPT`):
customers who used the payment's device, customers who used its card, and flagged customers
within two hops of the payer. They come from :mod:`paystream.stores.graph_cache` in two
steps, so a decision never waits on Gremlin Server:

1. inside the risk agent's one feature pipeline, in time order: record the payer's use of
   the device and card (as the projection will; earliest time wins), then count each one's
   users up to the payment's time, list the payer's links up to then, and read the payer's
   own flag and the projection's mark;
2. one more pipelined round trip per batch: each linked device or card's users that are
   flagged (``ZINTER`` with the fraud set, each customer scored by the later of first use
   and flag), kept only where that time is not after the payment.

Bounding every read at the payment's own time makes a replay read what the first pass read.
A cache that the projection has never written (no mark) gives no view (``GRAPH_UNAVAILABLE``);
one whose mark is older than the payment by more than ``graph_stale_after_s`` gives its view
marked stale (``GRAPH_STALE``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.fraud_features import GraphView
from paystream.stores.graph_cache import GraphCacheKeys, LinkKind, parse_link, queue_link
from paystream.stores.redis import epoch_ms

#: At most this many of a payer's devices and cards are followed for the two-hop feature, so
#: one customer with thousands of cards cannot make a batch slow.
MAX_LINKS = 64


@dataclass(frozen=True)
class CacheFirstRound:
    """Step 1's answers for one payment."""

    customer_id: str
    at_ms: int
    device_users: int
    card_users: int
    links: tuple[str, ...]
    self_flagged: bool


class CachedGraph:
    """Reads the graph cache for the risk agent; writes only the payer's own links."""

    def __init__(self, client: redis.Redis[Any], namespace: str, stale_after_s: float) -> None:
        self.client = client
        self.keys = GraphCacheKeys(namespace)
        self.stale_after_ms = int(stale_after_s * 1000)

    def _entities(self, e: PaymentAuthorized) -> list[tuple[LinkKind, str | None]]:
        return [("device", e.device_id), ("card", e.card_fingerprint)]

    def queue(self, pipe: Any, e: PaymentAuthorized) -> None:
        """Add step 1 for one payment to the feature pipeline."""
        at = epoch_ms(e.occurred_at)
        for kind, entity in self._entities(e):
            if entity:
                queue_link(pipe, self.keys, e.customer_id, kind, entity, at)
                pipe.zcount(self.keys.users(kind, entity), "-inf", at)
        pipe.zrangebyscore(self.keys.links(e.customer_id), "-inf", at, start=0, num=MAX_LINKS)
        pipe.zscore(self.keys.fraud, e.customer_id)

    def queue_mark(self, pipe: Any) -> None:
        """Add the read of the projection's mark (once per batch, last)."""
        pipe.get(self.keys.mark)

    def parse(self, replies: Iterator[Any], e: PaymentAuthorized) -> CacheFirstRound:
        """Consume step 1's replies for one payment, in :meth:`queue`'s order."""
        at = epoch_ms(e.occurred_at)
        counts = {"device": 0, "card": 0}
        for kind, entity in self._entities(e):
            if entity:
                next(replies)  # the link write
                counts[kind] = int(next(replies))
        links = tuple(next(replies))
        flag = next(replies)
        return CacheFirstRound(
            customer_id=e.customer_id,
            at_ms=at,
            device_users=counts["device"],
            card_users=counts["card"],
            links=links,
            self_flagged=flag is not None and float(flag) <= at,
        )

    def views(self, firsts: Sequence[CacheFirstRound], mark: str | None) -> list[GraphView] | None:
        """Step 2: the batch's graph views, or None when the projection never wrote the cache."""
        if mark is None:
            return None
        linked = sorted({link for first in firsts for link in first.links})
        flagged_by_link: dict[str, list[tuple[str, float]]] = {}
        if linked:
            pipe = self.client.pipeline(transaction=False)
            for link in linked:
                kind, entity = parse_link(link)
                users = self.keys.users(kind, entity)
                pipe.zinter([users, self.keys.fraud], aggregate="MAX", withscores=True)
            for link, rows in zip(linked, pipe.execute(), strict=True):
                flagged_by_link[link] = [(str(c), float(t)) for c, t in rows]
        newest = int(mark)
        views: list[GraphView] = []
        for first in firsts:
            flagged = {
                customer
                for link in first.links
                for customer, since in flagged_by_link.get(link, ())
                if since <= first.at_ms
            }
            if first.self_flagged:
                flagged.add(first.customer_id)
            views.append(
                GraphView(
                    device_customers=first.device_users,
                    card_customers=first.card_users,
                    fraud_linked_customers=len(flagged),
                    stale=first.at_ms > newest + self.stale_after_ms,
                )
            )
        return views
