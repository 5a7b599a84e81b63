import itertools
from datetime import UTC, datetime, timedelta

from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    event_id_for,
)
from paystream.money import Money
from streams.payments.state import apply_payment_event, apply_refund, newly_captured

AT = datetime(2026, 3, 1, 9, tzinfo=UTC)
COMMON = {
    "payment_id": "p1",
    "customer_id": "c1",
    "merchant_id": "m1",
    "amount": Money(amount_minor=1000, currency="HKD"),
}


def fold(events):
    state = None
    captures = 0
    for event in events:
        after = apply_payment_event(state, event)
        captures += newly_captured(state, after)
        state = after
    return state, captures


def test_any_arrival_order_gives_the_same_state_and_one_capture():
    events = [
        PaymentAuthorized(event_id=event_id_for(1), occurred_at=AT, device_id="d1", **COMMON),
        PaymentCaptured(event_id=event_id_for(2), occurred_at=AT + timedelta(seconds=3), **COMMON),
        PaymentCaptured(event_id=event_id_for(3), occurred_at=AT + timedelta(seconds=9), **COMMON),
    ]
    outcomes = {fold(order) for order in itertools.permutations(events)}
    assert len(outcomes) == 1
    state, captures = outcomes.pop()
    assert (state.status, captures, state.device_id) == ("captured", 1, "d1")
    assert state.captured_at == AT + timedelta(seconds=3)


def test_failed_payment_stays_failed_unless_captured():
    failed = PaymentFailed(
        event_id=event_id_for(4), occurred_at=AT, failure_code="card_declined", **COMMON
    )
    state, captures = fold([failed])
    assert (state.status, captures, state.failure_code) == ("failed", 0, "card_declined")


def test_refunds_make_a_captured_payment_partially_then_fully_refunded():
    state, _ = fold([PaymentCaptured(event_id=event_id_for(5), occurred_at=AT, **COMMON)])
    state = apply_refund(state, 400)
    assert state.status == "partially_refunded"
    assert apply_refund(state, 600).status == "refunded"
