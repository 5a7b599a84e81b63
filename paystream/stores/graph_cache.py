"""The graph-feature cache in Redis: who used which device or card, and who is flagged.

The risk agent's graph features (customers per device and per card, flagged customers within
two hops of the payer) need only the graph's ``USED`` edges and fraud flags. The Redis state
projection writes those same facts here, beside the graph sink writing them to Gremlin, so a
decision reads them in its Redis round trips instead of waiting on Gremlin Server.

Key layout (``{ns}`` is the namespace; the braces of ``{{ns}:gx}`` are a hash tag, so every
key below lives in one Redis Cluster slot and ``ZINTER`` across them is allowed)::

    {{ns}:gx}:users:{device|card}:{id}   zset customer @ first use (epoch ms, event time)
    {{ns}:gx}:links:{customer}           zset "{device|card}|{id}" @ first use
    {{ns}:gx}:fraud                      zset customer @ first fraud chargeback
    {{ns}:gx}:mark                       newest event time the projection has written (ms)

Every write keeps the *earliest* time (``ZADD LT``) and the mark keeps the latest, so a
replay, a duplicate or any arrival order leaves the same cache, and a reader bounded at a
payment's own time sees only what was true then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from paystream.stores.redis import Script

LinkKind = Literal["device", "card"]
#: Links and users outlive a quiet year; every use refreshes the TTL.
GRAPH_CACHE_TTL_S = 400 * 86400

# KEYS: users(kind, id), links(customer). ARGV: first use ms, customer, link member, TTL.
# Both keys share the hash tag, so this two-key script is also valid on Redis Cluster.
LINK = Script(
    """
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'LT', ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""
)
# KEYS: the mark. ARGV: an event time (ms); the mark only moves forward.
MARK = Script(
    """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
)
SCRIPTS = (LINK, MARK)


@dataclass(frozen=True)
class GraphCacheKeys:
    """Builds the cache's keys under one namespace."""

    namespace: str

    @property
    def _tag(self) -> str:
        return f"{{{self.namespace}:gx}}"

    def users(self, kind: LinkKind, entity_id: str) -> str:
        """Customers who used a device or card, scored by their first use."""
        return f"{self._tag}:users:{kind}:{entity_id}"

    def links(self, customer_id: str) -> str:
        """A customer's devices and cards (:func:`link_member`), scored by first use."""
        return f"{self._tag}:links:{customer_id}"

    @property
    def fraud(self) -> str:
        """Customers with a fraud chargeback, scored by the first one's time."""
        return f"{self._tag}:fraud"

    @property
    def mark(self) -> str:
        """The newest event time the projection has written."""
        return f"{self._tag}:mark"


def link_member(kind: LinkKind, entity_id: str) -> str:
    """A customer's link to one device or card, as a member of :meth:`GraphCacheKeys.links`."""
    return f"{kind}|{entity_id}"


def parse_link(member: str) -> tuple[LinkKind, str]:
    """Inverse of :func:`link_member`."""
    kind, entity_id = member.split("|", 1)
    if kind not in ("device", "card"):
        raise ValueError(f"not a graph cache link: {member!r}")
    return ("device" if kind == "device" else "card"), entity_id


def queue_link(
    pipe: Any, keys: GraphCacheKeys, customer_id: str, kind: LinkKind, entity_id: str, at_ms: int
) -> None:
    """Add ``customer used entity`` at ``at_ms`` to a pipeline (earliest use wins)."""
    member = link_member(kind, entity_id)
    users, links = keys.users(kind, entity_id), keys.links(customer_id)
    pipe.evalsha(LINK.sha, 2, users, links, at_ms, customer_id, member, GRAPH_CACHE_TTL_S)


def queue_flag(pipe: Any, keys: GraphCacheKeys, customer_id: str, at_ms: int) -> None:
    """Flag a customer as charged back for fraud at ``at_ms`` (earliest flag wins)."""
    pipe.zadd(keys.fraud, {customer_id: at_ms}, lt=True)


def queue_mark(pipe: Any, keys: GraphCacheKeys, at_ms: int) -> None:
    """Move the projection's mark forward to ``at_ms`` if it is later."""
    pipe.evalsha(MARK.sha, 1, keys.mark, at_ms)
