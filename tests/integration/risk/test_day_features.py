"""The day windows and the merchants' delayed fraud rate, against the real Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from paystream.contracts.events import PaymentAuthorized, RefundIssued, RefundReason
from paystream.contracts.fraud_features import DayWindows, MerchantFraud
from paystream.money import Money
from risk.lookup import RiskRedis
from streams.sinks.port import Envelope, LedgerSnapshot
from streams.sinks.redis_state import RedisStateSink

pytestmark = pytest.mark.integration

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(stack, settings, unique):
    client = redis.Redis.from_url(settings.redis.url.get_secret_value(), decode_responses=True)
    try:
        yield RedisStateSink(settings.redis, namespace=unique), RiskRedis(client, unique)
    finally:
        for key in client.scan_iter(f"{unique}:*"):
            client.delete(key)
        client.close()


def _pay(
    unique: str, n: int, at: datetime, minor: int, *, currency: str = "HKD", merchant: str = "m1"
) -> PaymentAuthorized:
    return PaymentAuthorized(
        event_id=uuid.uuid4(),
        occurred_at=at,
        payment_id=f"{unique}-p{n}",
        customer_id=f"{unique}-c{n if merchant == 'shop' else ''}",
        merchant_id=f"{unique}-{merchant}",
        amount=Money(amount_minor=minor, currency=currency),
    )


def _chargeback(payment: PaymentAuthorized, at: datetime) -> RefundIssued:
    return RefundIssued(
        event_id=uuid.uuid4(),
        occurred_at=at,
        refund_id=f"r-{payment.payment_id}",
        payment_id=payment.payment_id,
        customer_id=payment.customer_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        reason=RefundReason.FRAUD_CHARGEBACK,
    )


def test_day_windows_count_the_month_and_average_only_earlier_payments_in_the_currency(
    world, unique
):
    _, risk = world
    history = [
        _pay(unique, 1, T - timedelta(days=40), 99_000),  # older than the month: not read
        _pay(unique, 2, T - timedelta(days=20), 1_000),
        _pay(unique, 3, T - timedelta(days=5), 2_000, merchant="m2"),
        _pay(unique, 4, T - timedelta(hours=12), 3_000),
        _pay(unique, 5, T - timedelta(hours=1), 500, currency="USD"),
        _pay(unique, 6, T, 6_000),
    ]
    facts = risk.gather(history)
    last = facts[-1]
    assert last.customer_days == DayWindows(
        count_7d=4, count_30d=5, prior_count=(1, 2, 3), prior_minor=(3_000, 5_000, 6_000)
    )
    # At this merchant only, the payment at m2 is not there.
    assert last.local.customer_days == DayWindows(
        count_7d=3, count_30d=4, prior_count=(1, 1, 2), prior_minor=(3_000, 3_000, 4_000)
    )
    # Twenty days on, the first pass still saw the 40-day-old payment.
    assert facts[1].customer_days == DayWindows(1, 2, (0, 0, 1), (0, 0, 99_000))
    # Reads stop at each payment's own time: a replay reads the same for every payment whose
    # month is still kept (a month past the newest; the oldest one was trimmed since).
    replayed = risk.gather(history)
    assert [f.customer_days for f in replayed[2:]] == [f.customer_days for f in facts[2:]]


def test_merchant_fraud_rate_counts_payments_before_the_delay_and_labels_known_by_then(
    world, unique
):
    sink, risk = world
    old = [_pay(unique, n, T - timedelta(days=10), 1_000, merchant="shop") for n in range(1, 5)]
    known = _chargeback(old[0], T - timedelta(days=3))
    future = _chargeback(old[1], T + timedelta(days=1))
    events = [*old, known, future, known]  # a duplicate chargeback counts once
    sink.apply([Envelope(e, "payments", 0, i) for i, e in enumerate(events)], LedgerSnapshot())
    recent = _pay(unique, 9, T - timedelta(days=2), 1_000, merchant="shop")
    [now] = risk.gather([_pay(unique, 10, T, 1_000, merchant="shop")])
    # Windows end one label delay (7 days) before T: the 4 old payments are 3 days inside it.
    assert now.merchant_fraud == MerchantFraud(payments=(0, 4, 4), frauds=(0, 1, 1))
    risk.gather([recent])  # a newer payment changes nothing that ends before the delay
    [again] = risk.gather([_pay(unique, 10, T, 1_000, merchant="shop")])
    assert again.merchant_fraud == now.merchant_fraud
    # Once the second label is known, it counts.
    [later] = risk.gather([_pay(unique, 11, T + timedelta(days=1), 1_000, merchant="shop")])
    assert later.merchant_fraud == MerchantFraud(payments=(0, 4, 4), frauds=(0, 2, 2))
