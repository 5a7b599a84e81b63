"""Feature lookups for the risk agent: one Redis round trip and one graph request per batch.

Redis: the batch's authorizations are first added to the per-customer/card/device windows
(the same idempotent script and members the state projection writes, so whichever writer
comes first, each payment is counted once) and to first-seen sets; then, in the same
pipeline, the windows, totals, profiles and first sightings are read back. Because every
window read is bounded at the payment's own time and first sightings keep the minimum time
(``ZADD LT``), a replay computes the same features as the first pass.

Graph: users of the payment's device and card, and flagged (charged-back) customers within
reach of the payer. By default they come from the Redis graph cache, read in the same
pipeline (:mod:`streams.risk.graph_cache`); otherwise from Gremlin, in one string script with
bindings (Cosmos-compatible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import NoScriptError

from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.fraud_features import GraphView, Window
from paystream.contracts.served import ServedKeys
from paystream.stores import graph_cache
from paystream.stores.gremlin import vertex_id
from paystream.stores.redis import (
    WINDOW,
    RedisKeys,
    Script,
    WindowKind,
    encode_member,
    epoch_ms,
    load_scripts,
    window_args,
)
from streams.risk.graph_cache import CachedGraph, CacheFirstRound
from streams.sinks.graph import GremlinGraphSink
from streams.sinks.port import Totals
from streams.sinks.redis_state import parse_totals

SEEN_TTL_S = 400 * 86400

# First sightings keep the minimum time (ZADD LT), so any arrival order gives the same set.
# Returns this value's first sighting and the customer's earliest sighting of anything.
SEEN = Script(
    """
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {redis.call('ZSCORE', KEYS[1], ARGV[2]), first[2]}
"""
)
STORE = Script(
    """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
)


@dataclass(frozen=True)
class LocalWindows:
    """The customer's, card's and device's windows at the paying merchant only."""

    customer: Window
    card: Window | None
    device: Window | None


@dataclass(frozen=True)
class RedisFacts:
    """What Redis knows about one authorization's customer, card, device and merchant.

    ``customer``, ``card`` and ``device`` count authorizations at every merchant; ``local``
    the same at this payment's merchant.
    """

    customer: Window
    card: Window | None
    device: Window | None
    local: LocalWindows
    customer_totals: dict[str, Totals]
    customer_profile: dict[str, str]
    merchant_profile: dict[str, str]
    merchant_totals: dict[str, Totals]
    device_first_seen_ms: int | None
    country_first_seen_ms: int | None
    # Earliest sighting of any device / country of the customer: None when never seen.
    earliest_device_ms: int | None
    earliest_country_ms: int | None
    stored: dict[str, str]
    # The graph cache's first round (None without a cache) and the projection's mark.
    graph: CacheFirstRound | None = None
    graph_mark: str | None = None


class RiskRedis:
    """The risk agent's Redis reads and writes; with ``graph_cache``, its graph reads too."""

    def __init__(
        self, client: redis.Redis[Any], namespace: str, graph_cache: CachedGraph | None = None
    ) -> None:
        self.client = client
        self.keys = RedisKeys(namespace)
        self.served = ServedKeys(namespace)
        self.graph_cache = graph_cache

    def seen_key(self, customer_id: str, what: str) -> str:
        """Zset of a customer's devices or countries, scored by first sighting (epoch ms)."""
        return self.keys.seen(customer_id, what)

    def gather(self, events: Sequence[PaymentAuthorized]) -> list[RedisFacts]:
        """Record the batch in the windows and first-seen sets, and read every feature input:
        one round trip, in time order (so a batch reads as the stream would)."""
        ordered = sorted(events, key=lambda e: e.occurred_at)
        try:
            replies = self._pipeline(ordered)
        except NoScriptError:
            load_scripts(self.client, WINDOW, SEEN, STORE, *graph_cache.SCRIPTS)
            replies = self._pipeline(ordered)
        facts = dict(
            zip((e.payment_id for e in ordered), self._facts(ordered, replies), strict=True)
        )
        return [facts[e.payment_id] for e in events]

    def _entities(self, e: PaymentAuthorized) -> list[tuple[WindowKind, str | None]]:
        return [("customer", e.customer_id), ("card", e.card_fingerprint), ("device", e.device_id)]

    def _pipeline(self, events: Sequence[PaymentAuthorized]) -> list[Any]:
        # Single-key scripts only, so this also runs on Redis Cluster.
        pipe = self.client.pipeline(transaction=False)
        for e in events:
            currency = e.amount.currency
            member = encode_member(e.payment_id, e.amount.amount_minor, currency)
            at = epoch_ms(e.occurred_at)
            for kind, entity in self._entities(e):
                if entity:
                    args = window_args([(at, member)], read_at_ms=at, currency=currency)
                    pipe.evalsha(WINDOW.sha, 1, self.keys.window(kind, entity), *args)
                    local = self.keys.window(kind, entity, e.merchant_id)
                    pipe.evalsha(WINDOW.sha, 1, local, *args)
            for what, value in (("device", e.device_id), ("country", e.ip_country)):
                if value:
                    key = self.seen_key(e.customer_id, what)
                    pipe.evalsha(SEEN.sha, 1, key, at, value, SEEN_TTL_S)
            pipe.hgetall(self.keys.totals("customer", e.customer_id))
            pipe.hgetall(self.keys.profile("customer", e.customer_id))
            pipe.hgetall(self.keys.profile("merchant", e.merchant_id))
            pipe.hgetall(self.keys.totals("merchant", e.merchant_id))
            pipe.hgetall(self.served.decision(e.payment_id))
            if self.graph_cache is not None:
                self.graph_cache.queue(pipe, e)
        if self.graph_cache is not None:
            self.graph_cache.queue_mark(pipe)
        return list(pipe.execute())

    def _facts(self, events: Sequence[PaymentAuthorized], replies: list[Any]) -> list[RedisFacts]:
        it = iter(replies)
        # The mark is the pipeline's last reply, after every payment's.
        mark = replies[-1] if self.graph_cache is not None else None
        facts: list[RedisFacts] = []
        for e in events:
            windows: dict[str, Window | None] = {}
            local: dict[str, Window | None] = {}
            for kind, entity in self._entities(e):
                windows[kind] = Window(*(int(v) for v in next(it))) if entity else None
                local[kind] = Window(*(int(v) for v in next(it))) if entity else None
            seen: dict[str, int | None] = {}
            earliest: dict[str, int | None] = {}
            for what, value in (("device", e.device_id), ("country", e.ip_country)):
                score, first = next(it) if value else (None, None)
                seen[what] = None if score is None else int(float(score))
                earliest[what] = None if first is None else int(float(first))
            customer_totals = parse_totals(next(it))
            customer_profile, merchant_profile = dict(next(it)), dict(next(it))
            merchant_totals = parse_totals(next(it))
            stored = dict(next(it))
            cache = self.graph_cache
            facts.append(
                RedisFacts(
                    customer=windows["customer"] or Window(),
                    card=windows["card"],
                    device=windows["device"],
                    local=LocalWindows(
                        local["customer"] or Window(), local["card"], local["device"]
                    ),
                    customer_totals=customer_totals,
                    customer_profile=customer_profile,
                    merchant_profile=merchant_profile,
                    merchant_totals=merchant_totals,
                    device_first_seen_ms=seen["device"],
                    country_first_seen_ms=seen["country"],
                    earliest_device_ms=earliest["device"],
                    earliest_country_ms=earliest["country"],
                    stored=stored,
                    graph=None if cache is None else cache.parse(it, e),
                    graph_mark=mark,
                )
            )
        return facts

    def store(self, decisions: Sequence[tuple[dict[str, str], str]], ttl_s: int) -> None:
        """Write decision hashes (fields, payment id) with their TTL, pipelined."""
        pipe = self.client.pipeline(transaction=False)
        for fields, payment_id in decisions:
            flat = [item for pair in fields.items() for item in pair]
            pipe.evalsha(STORE.sha, 1, self.served.decision(payment_id), ttl_s, *flat)
        try:
            pipe.execute()
        except NoScriptError:
            load_scripts(self.client, STORE)
            self.store(decisions, ttl_s)

    def mark_published(self, payment_ids: Sequence[str]) -> None:
        """Record that these decisions reached the decisions topic (a replay skips them)."""
        pipe = self.client.pipeline(transaction=False)
        for payment_id in payment_ids:
            pipe.hset(self.served.decision(payment_id), "published", "1")
        pipe.execute()


# Device and card vertices: who used them, and which of those are flagged. The payer's own
# vertex: flagged customers two hops away (sharing any device or card) and its own flag.
GRAPH_SCRIPT = (
    "g.V(ids).has(pkn, within(ids)).project('id', 'users', 'flagged', 'self')"
    ".by(id())"
    ".by(__.in('USED').hasLabel('customer').id().fold())"
    ".by(choose(hasLabel('customer'),"
    " out('USED').in('USED').has('fraud', 1).dedup().id().fold(),"
    " __.in('USED').has('fraud', 1).id().fold()))"
    ".by(values('fraud').fold())"
)


class RiskGraph:
    """Graph features for a batch, asked in one request."""

    def __init__(self, graph: GremlinGraphSink) -> None:
        self.graph = graph
        self.namespace = graph.namespace

    def request(self, events: Sequence[PaymentAuthorized]) -> tuple[str, dict[str, Any]]:
        """The script and bindings for a batch."""
        ids: set[str] = set()
        for e in events:
            ids.add(vertex_id(self.namespace, "customer", e.customer_id))
            if e.device_id:
                ids.add(vertex_id(self.namespace, "device", e.device_id))
            if e.card_fingerprint:
                ids.add(vertex_id(self.namespace, "card", e.card_fingerprint))
        return GRAPH_SCRIPT, {"ids": sorted(ids), "pkn": self.graph.settings.partition_key}

    def views(
        self, events: Sequence[PaymentAuthorized], rows: list[dict[str, Any]]
    ) -> list[GraphView]:
        """Per-payment graph view from the script's rows."""
        by_id = {str(r["id"]): r for r in rows}
        views: list[GraphView] = []
        for e in events:
            payer = vertex_id(self.namespace, "customer", e.customer_id)
            me = by_id.get(payer, {})
            flagged: set[str] = set(map(str, me.get("flagged", [])))
            if me.get("self"):
                flagged.add(payer)
            counts: dict[str, int] = {}
            for kind, key in (("device", e.device_id), ("card", e.card_fingerprint)):
                row = by_id.get(vertex_id(self.namespace, kind, key)) if key else None
                users = set(map(str, row.get("users", []))) if row else set()
                counts[kind] = len(users | {payer}) if key else 0
                if row:
                    flagged |= set(map(str, row.get("flagged", [])))
            views.append(GraphView(counts["device"], counts["card"], len(flagged)))
        return views
