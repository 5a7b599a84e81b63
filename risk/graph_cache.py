"""Graph features from the Redis cache that the state projection keeps warm.

The same three features as the Gremlin script (:mod:`risk.graph_gremlin`): customers
who used the payment's device, customers who used its card, and flagged customers within two
hops of the payer (any customer who shares a device or card with the payer and has a fraud
chargeback), with the payer itself when flagged. Every count stops at the payment's own time.

The feature pipeline (:class:`risk.lookup.RiskRedis`) already returns the users and
flagged users of this payment's device and card and the payer's other links. Only payers with
other devices or cards need one more pipelined round trip for those links' flagged users.

A cache whose projection is behind the payment (its mark, the newest event time projected,
older than the payment by more than ``risk.graph_stale_after_s``, or never written) still
answers with what it has, and the decision carries ``GRAPH_STALE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from paystream.contracts.fraud_features import GraphView
from paystream.stores.graph_cache import parse_link
from paystream.stores.redis import RedisKeys
from risk.lookup import MAX_LINKS, RedisFacts


class CachedGraph:
    """Reads the graph cache's second round and assembles the views."""

    def __init__(self, client: redis.Redis[Any], namespace: str, stale_after_s: float) -> None:
        self.client = client
        self.keys = RedisKeys(namespace)
        self.stale_after_ms = int(stale_after_s * 1000)

    def views(self, facts: Sequence[RedisFacts]) -> list[GraphView]:
        """One view per payment, in order."""
        # Each other link once, read up to the latest payment that needs it.
        wanted: dict[str, int] = {}
        for f in facts:
            for link in f.graph.links:
                if link not in f.graph.own:
                    wanted[link] = max(f.graph.at_ms, wanted.get(link, f.graph.at_ms))
        flagged_by_link: dict[str, list[tuple[str, float]]] = {}
        if wanted:
            pipe = self.client.pipeline(transaction=False)
            for link, until in wanted.items():
                kind, entity = parse_link(link)
                pipe.zrangebyscore(
                    self.keys.flagged(kind, entity),
                    "-inf",
                    until,
                    start=0,
                    num=MAX_LINKS,
                    withscores=True,
                )
            for link, rows in zip(wanted, pipe.execute(), strict=True):
                flagged_by_link[link] = [(str(c), float(t)) for c, t in rows]
        return [self._view(f, flagged_by_link) for f in facts]

    def _view(self, f: RedisFacts, others: dict[str, list[tuple[str, float]]]) -> GraphView:
        g = f.graph
        flagged = set(g.flagged)
        for link in g.links:
            flagged.update(c for c, since in others.get(link, ()) if since <= g.at_ms)
        if g.flagged_at_ms is not None and g.flagged_at_ms <= g.at_ms:
            flagged.add(g.customer_id)
        mark = f.graph_mark_ms
        return GraphView(
            device_customers=g.device_users,
            card_customers=g.card_users,
            fraud_linked_customers=len(flagged),
            stale=mark is None or g.at_ms > mark + self.stale_after_ms,
        )
