"""The Redis graph cache against the real Redis: written by the projection, read in time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from paystream.contracts.events import (
    PaymentAuthorized,
    RefundIssued,
    RefundReason,
    SessionStarted,
)
from paystream.contracts.fraud_features import GraphView
from paystream.contracts.fraud_rules import Reason
from paystream.money import Money
from risk.graph_cache import CachedGraph
from risk.lookup import RiskRedis
from risk.model import ModelHolder
from risk.scorer import RiskScorer
from streams.sinks.port import Envelope, LedgerSnapshot
from streams.sinks.redis_state import RedisStateSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _payment(unique: str, n: int, customer: str, at: datetime, **kw: str) -> PaymentAuthorized:
    return PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=at,
        payment_id=f"{unique}-p{n}",
        customer_id=f"{unique}-{customer}",
        merchant_id=f"{unique}-m1",
        amount=Money(amount_minor=1500, currency="HKD"),
        card_fingerprint=kw.get("card", f"{n:02d}" * 16),
        device_id=kw.get("device"),
    )


@pytest.fixture
def cache_world(stack, settings, unique):
    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), decode_responses=True)
    sink = RedisStateSink(settings.redis, namespace=unique)
    cache = CachedGraph(client, unique, stale_after_s=3600)
    try:
        yield sink, RiskRedis(client, unique), cache
    finally:
        for key in client.scan_iter(f"{unique}:*"):
            client.delete(key)
        client.close()


def _project(sink: RedisStateSink, events: list) -> None:  # type: ignore[type-arg]
    envelopes = [Envelope(e, "t", 0, i) for i, e in enumerate(events)]
    sink.apply(envelopes, LedgerSnapshot())


def _views(redis_side: RiskRedis, cache: CachedGraph, payments: list[PaymentAuthorized]):  # type: ignore[no-untyped-def]
    return cache.views(redis_side.gather(payments))


def test_shared_device_and_a_flagged_neighbour_count_only_once_they_happened(cache_world, unique):
    sink, redis_side, cache = cache_world
    flagged_at = T0 + timedelta(hours=2)
    _project(
        sink,
        [
            SessionStarted(
                event_id=uuid.uuid4(),
                occurred_at=T0,
                session_id=f"{unique}-s1",
                customer_id=f"{unique}-mule",
                device_id="dev-shared",
                ip_country="Hong Kong",
                channel="ios",
            ),
            RefundIssued(
                event_id=uuid.uuid4(),
                occurred_at=flagged_at,
                refund_id=f"{unique}-r1",
                payment_id=f"{unique}-old",
                customer_id=f"{unique}-mule",
                merchant_id=f"{unique}-m1",
                amount=Money(amount_minor=100, currency="HKD"),
                reason=RefundReason.FRAUD_CHARGEBACK,
            ),
        ],
    )
    before = _payment(unique, 1, "payer", T0 + timedelta(hours=1), device="dev-shared")
    after = _payment(unique, 2, "payer", T0 + timedelta(hours=3), device="dev-shared")
    views = _views(redis_side, cache, [before, after])
    assert views == [
        GraphView(device_customers=2, card_customers=1, fraud_linked_customers=0),
        GraphView(device_customers=2, card_customers=1, fraud_linked_customers=1),
    ]
    # A replay of the same payments reads exactly what the first pass read.
    assert _views(redis_side, cache, [before, after]) == views


def test_a_cache_the_projection_never_wrote_answers_what_it_has_and_says_stale(cache_world, unique):
    _, redis_side, cache = cache_world
    views = _views(redis_side, cache, [_payment(unique, 1, "c1", T0, device="d")])
    assert views == [GraphView(device_customers=1, card_customers=1, stale=True)]


def test_a_payment_far_past_the_projections_mark_is_decided_and_says_stale(
    cache_world, unique, settings
):
    sink, redis_side, cache = cache_world
    _project(sink, [_payment(unique, 1, "c1", T0, device="d1")])
    late = _payment(unique, 2, "c1", T0 + timedelta(hours=2), device="d1")
    no_model = ModelHolder("none", lambda n, v: None, lambda: None)  # type: ignore[arg-type,return-value]
    scorer = RiskScorer(redis_side, cache, no_model, settings.risk)
    try:
        decision = scorer.score([late]).to_publish[0]
    finally:
        scorer.close()
    assert Reason.GRAPH_STALE in decision.reasons
    assert Reason.GRAPH_UNAVAILABLE not in decision.reasons
    assert decision.features["device_customers"] == 1.0
    assert decision.degraded


def test_the_cache_answers_what_the_gremlin_graph_answers_after_a_replayed_history(risk_world):
    from paystream.stores.gremlin import GremlinConnection
    from paystream.stores.redis import sync_client
    from risk.graph_gremlin import RiskGraph

    settings = risk_world.settings
    namespace = settings.streams.namespace
    authorizations = [e for e in risk_world.events if isinstance(e, PaymentAuthorized)]
    latest = max(e.occurred_at for e in risk_world.events)
    # Each customer's last authorization again, a day after everything: by then both stores
    # hold the whole history, so the time-bounded cache must equal the unbounded graph.
    last = {e.customer_id: e for e in authorizations}
    probes = [
        e.model_copy(update={"occurred_at": latest + timedelta(days=1)})
        for e in sorted(last.values(), key=lambda e: e.customer_id)
    ]
    cache = CachedGraph(sync_client(settings.redis), namespace, stale_after_s=10 * 86400)
    cached = _views(RiskRedis(cache.client, namespace), cache, probes)
    gremlin = RiskGraph(GremlinConnection(settings.gremlin, timeout_s=30), f"{namespace}:")
    try:
        script, bindings = gremlin.request(probes)
        expected = gremlin.views(probes, gremlin.read(script, bindings))
    finally:
        gremlin.close()
    assert cached == expected
    assert any(v.fraud_linked_customers for v in expected)
    assert any(max(v.device_customers, v.card_customers) > 1 for v in expected)
