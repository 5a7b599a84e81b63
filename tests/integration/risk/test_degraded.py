"""Degraded mode against the real Redis: the graph down still yields decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from paystream.contracts.events import PaymentAuthorized
from paystream.money import Money
from paystream.stores.gremlin import GremlinConnection
from risk.graph_gremlin import RiskGraph
from risk.lookup import RiskRedis
from risk.model import ModelHolder
from risk.scorer import RiskScorer

pytestmark = pytest.mark.integration


def test_a_payment_is_still_decided_when_the_graph_is_down(stack, settings, unique):
    dead = settings.gremlin.model_copy(update={"url": "ws://127.0.0.1:1/gremlin"})
    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), decode_responses=True)
    graph = RiskGraph(GremlinConnection(dead, timeout_s=2), f"{unique}:")
    no_model = ModelHolder("none", lambda n, v: None, lambda: None)  # type: ignore[arg-type,return-value]
    scorer = RiskScorer(RiskRedis(client, unique), graph, no_model, settings.risk)
    payment = PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        payment_id=f"{unique}-p1",
        customer_id=f"{unique}-c1",
        merchant_id=f"{unique}-m1",
        amount=Money(amount_minor=4200, currency="HKD"),
        card_fingerprint="ab" * 16,
        device_id="d1",
        ip_country="Hong Kong",
    )
    try:
        result = scorer.score([payment])
        assert result.decided == 1
        decision = result.to_publish[0]
        assert {"GRAPH_UNAVAILABLE", "NO_HISTORY", "RULES_ONLY"} <= set(decision.reasons)
        assert decision.degraded
        assert decision.features["card_customers"] is None
        # Scored again (a replay): the stored decision stands and is not re-made.
        again = scorer.score([payment])
        assert again.decided == 0
        assert again.to_publish == [decision]
    finally:
        scorer.close()
        graph.close()
        for key in client.scan_iter(f"{unique}:*"):
            client.delete(key)
        client.close()
