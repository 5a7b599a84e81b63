"""The day windows and the merchants' delayed fraud rate, against the real Redis."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from paystream.contracts.events import PaymentAuthorized, RefundIssued, RefundReason
from paystream.contracts.fraud_features import DayWindows, MerchantFraud
from paystream.money import Money
from risk.customer_days import Earlier
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


def _earlier_by_scan(seen: dict[str, tuple[datetime, int, str]], p: PaymentAuthorized) -> Earlier:
    """The earlier payments by definition: every kept payment at or before this one's time
    but itself, and those in its currency with their sum."""
    rows = [v for pid, v in seen.items() if pid != p.payment_id and v[0] <= p.occurred_at]
    mine = [minor for _, minor, cur in rows if cur == p.amount.currency]
    return Earlier(len(rows), len(mine), sum(mine))


def _check_against_scan(risk, batches, seen) -> int:
    checked = 0
    for batch in batches:
        facts = risk.gather(batch)
        # gather decides a batch in time order and answers in the batch's order.
        for p, f in sorted(zip(batch, facts, strict=True), key=lambda pf: pf[0].occurred_at):
            seen[p.payment_id] = (p.occurred_at, p.amount.amount_minor, p.amount.currency)
            assert f.earlier == _earlier_by_scan(seen, p), p.payment_id
            checked += 1
    return checked


def _random_history(unique: str, n: int, seed: int) -> list[PaymentAuthorized]:
    rng = random.Random(seed)
    return [
        _pay(
            unique,
            i,
            T + timedelta(minutes=rng.randrange(0, 60 * 24 * 90, 30)),  # ties happen too
            rng.randrange(1, 10**12),  # sums past 1e14 stay exact integers
            currency=rng.choice(("HKD", "HKD", "USD")),
            merchant=rng.choice(("m1", "m2")),
        )
        for i in range(1, n + 1)
    ]


def test_earlier_payments_from_the_totals_equal_a_scan_in_any_order_and_after_replays(
    world, unique
):
    _, risk = world
    payments = _random_history(unique, 300, seed=7)
    # Mostly in time order (the live case), a stretch reversed, then replays in any order.
    order = sorted(payments, key=lambda p: p.occurred_at)
    order[100:110] = reversed(order[100:110])
    order += order[40:60] + random.Random(8).sample(payments, 30)
    batches = [order[i : i + 7] for i in range(0, len(order), 7)]
    assert _check_against_scan(risk, batches, {}) == len(order)


def test_totals_lost_or_wrong_are_rebuilt_from_the_history_set(world, unique):
    _, risk = world
    payments = sorted(_random_history(unique, 60, seed=3), key=lambda p: p.occurred_at)
    seen: dict[str, tuple[datetime, int, str]] = {}
    _check_against_scan(risk, [payments[:20]], seen)
    totals = risk.keys.days_totals(payments[0].customer_id)
    risk.client.delete(totals)  # as if written before the totals existed
    _check_against_scan(risk, [payments[20:40]], seen)
    risk.client.hset(totals, mapping={"n": 40, "n:HKD": 999})  # wrong, yet counting the set
    risk.client.hincrby(totals, "n", 1)  # ... and now not
    _check_against_scan(risk, [payments[40:]], seen)
    assert int(risk.client.hget(totals, "n")) == 60


def test_the_history_trim_takes_its_payments_off_the_totals(world, unique):
    _, risk = world
    old = _pay(unique, 1, T, 1_000)
    later = [_pay(unique, n, T + timedelta(days=10 * n), 100 * n) for n in range(2, 42)]
    facts = risk.gather([old, *later])
    # 410 days on, the first payment (kept 400 days past the newest) is trimmed; the next,
    # 20 days on, is not.
    assert facts[-1].earlier == Earlier(39, 39, sum(100 * n for n in range(2, 41)))
    totals = risk.client.hgetall(risk.keys.days_totals(old.customer_id))
    assert totals == {"n": "40", "n:HKD": "40", "s:HKD": str(sum(100 * n for n in range(2, 42)))}
