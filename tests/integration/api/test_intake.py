"""POST /v1/payments: the event on Kafka, idempotency, and card-number refusal."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from paystream.contracts import parse_event
from paystream.contracts.events import PaymentAuthorized

pytestmark = pytest.mark.integration

BODY = {
    "customer_id": "C0",
    "amount": {"amount_minor": 2550, "currency": "GBP"},
    "method": "card",
    "card_fingerprint": "9f86d081884c7d659a2feaa0c55ad015",
    "order_id": "O536365",
}


def _events_on_topic(settings) -> list[tuple[bytes, PaymentAuthorized]]:
    """Every record of the world's payments topic, read from the beginning."""

    async def go():
        consumer = AIOKafkaConsumer(
            settings.kafka.topic("payments"),
            **settings.kafka.client_options(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        try:
            out = []
            while True:
                batch = await consumer.getmany(timeout_ms=1500)
                if not batch:
                    return out
                for records in batch.values():
                    out.extend((r.key, parse_event(r.value)) for r in records)
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _post(client, body, key):
    return client.post("/v1/payments", json=body, headers={"Idempotency-Key": key})


def test_payment_intake_produces_the_authorized_event(api_world):
    key = f"order-{uuid.uuid4()}"
    with api_world.client("alpha") as client:
        res = _post(client, BODY, key)
    assert res.status_code == 202, res.text
    accepted = res.json()
    assert res.headers["location"] == f"/v1/payments/{accepted['payment_id']}"
    mine = [
        (k, e)
        for k, e in _events_on_topic(api_world.settings)
        if str(e.event_id) == accepted["event_id"]
    ]
    assert len(mine) == 1
    record_key, event = mine[0]
    assert record_key == b"C0"  # keyed by customer: one customer's events stay in order
    assert isinstance(event, PaymentAuthorized)
    assert event.payment_id == accepted["payment_id"]
    assert event.merchant_id == "M-alpha"  # from the key, never from the body
    assert event.amount.amount_minor == 2550 and event.amount.currency == "GBP"
    assert event.card_fingerprint == BODY["card_fingerprint"]


def test_same_key_same_body_replays_and_different_body_conflicts(api_world):
    key = f"order-{uuid.uuid4()}"
    reordered = json.loads(json.dumps(BODY))
    reordered = {k: reordered[k] for k in reversed(list(reordered))}
    with api_world.client("alpha") as client:
        first = _post(client, BODY, key)
        again = _post(client, reordered, key)  # same body, other key order
        other = _post(client, {**BODY, "amount": {"amount_minor": 2551, "currency": "GBP"}}, key)
        # The same Idempotency-Key at another merchant is another payment.
    with api_world.client("beta") as client:
        elsewhere = _post(client, {**BODY, "customer_id": "C1"}, key)
    assert first.status_code == 202 and again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert elsewhere.status_code == 202
    assert elsewhere.json()["payment_id"] != first.json()["payment_id"]
    events = _events_on_topic(api_world.settings)
    assert sum(str(e.event_id) == first.json()["event_id"] for _, e in events) == 1


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "card_fingerprint": "4111 1111 1111 1111"},
        {**BODY, "card_fingerprint": "4111111111111111"},
        {**BODY, "card_number": "4111111111111111"},
        {**BODY, "customer_id": "4111111111111111"},
        {**BODY, "order_id": "ord-4111-1111-1111-1111"},
        {**BODY, "device_id": "4111111111111111"},
        {**BODY, "booking_id": "bk-4111111111111111"},
        {**BODY, "ip_country": "4111 1111 1111 1111"},
    ],
)
def test_card_numbers_are_refused_with_a_422_that_says_so(api_world, body):
    before = len(_events_on_topic(api_world.settings))
    with api_world.client("alpha") as client:
        res = _post(client, body, f"pan-{uuid.uuid4()}")
    assert res.status_code == 422, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert "card number" in res.json()["detail"]
    assert "4111" not in res.text  # never echoed back
    # Nothing reached the topic.
    events = _events_on_topic(api_world.settings)
    assert len(events) == before
    assert not any(b"4111" in raw for raw, _ in events)


def test_idempotency_key_is_required(api_world):
    with api_world.client("alpha") as client:
        res = client.post("/v1/payments", json=BODY)
    assert res.status_code == 422
    assert res.json()["errors"][0]["location"] == "header.Idempotency-Key"


def test_customer_key_cannot_pay_for_another_customer(api_world):
    with api_world.client("alpha_c0") as client:
        own = _post(client, BODY, f"k-{uuid.uuid4()}")
        other = _post(client, {**BODY, "customer_id": "C2"}, f"k-{uuid.uuid4()}")
    assert own.status_code == 202
    assert other.status_code == 403


def _expire(settings, key):
    """Drop one Idempotency-Key's record, as its 24 h expiry would."""
    import redis

    from api.intake import IdempotencyStore

    record = IdempotencyStore(None, settings.streams.namespace, 1)._key("M-alpha", key)
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        assert client.delete(record) == 1
    finally:
        client.close()


def test_a_key_reused_after_its_record_expired_with_another_body_is_a_new_payment(api_world):
    key = f"reuse-{uuid.uuid4()}"
    other_body = {**BODY, "amount": {"amount_minor": 999, "currency": "GBP"}}
    with api_world.client("alpha") as client:
        first = _post(client, BODY, key)
        _expire(api_world.settings, key)
        second = _post(client, other_body, key)
        _expire(api_world.settings, key)
        retried = _post(client, BODY, key)  # the first request again, after expiry
    assert first.status_code == second.status_code == retried.status_code == 202
    assert second.json()["payment_id"] != first.json()["payment_id"]
    # The same request maps to the same payment whenever it comes: the ledger dedups it.
    assert retried.json()["payment_id"] == first.json()["payment_id"]


def test_a_pending_claim_holds_its_key_for_a_short_lease_only(api_world):
    import asyncio

    from redis.asyncio import Redis

    from api.intake import PENDING_LEASE_S, IdempotencyStore

    async def go():
        client = Redis.from_url(api_world.settings.redis.url.get_secret_value())
        store = IdempotencyStore(client, f"lease-{uuid.uuid4().hex[:6]}", ttl_s=86400)
        try:
            claim = await store.claim("M-alpha", "k", "digest")
            ttl = await client.ttl(store._key("M-alpha", "k"))
            await store.complete("M-alpha", "k", "digest", 202, {"ok": True})
            done_ttl = await client.ttl(store._key("M-alpha", "k"))
            return claim.state, ttl, done_ttl
        finally:
            await client.aclose()

    state, pending_ttl, done_ttl = asyncio.run(go())
    assert state == "new"
    assert 0 < pending_ttl <= PENDING_LEASE_S
    assert done_ttl > 86000
