import itertools
from datetime import UTC, datetime, timedelta

from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundIssued,
    event_id_for,
)
from paystream.money import Money
from streams.payments.state import (
    apply_payment_event,
    apply_refund,
    newly_captured,
    party_problem,
    refund_problem,
)

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


def test_a_capture_before_its_authorization_keeps_the_captured_amount_in_either_order():
    auth = PaymentAuthorized(
        event_id=event_id_for(6),
        occurred_at=AT,
        device_id="d1",
        **{**COMMON, "amount": Money(amount_minor=1200, currency="HKD")},
    )
    capture = PaymentCaptured(event_id=event_id_for(7), occurred_at=AT, **COMMON)
    outcomes = {fold(order) for order in ([auth, capture], [capture, auth])}
    assert len(outcomes) == 1
    state, captures = outcomes.pop()
    # The capture's 1000 moved, so the row says 1000, as the balances booked at capture do.
    assert (state.amount_minor, state.device_id, captures) == (1000, "d1", 1)


def _refund(amount_minor, currency="HKD", **over):
    fields = {
        "event_id": event_id_for("r", amount_minor, currency, *over.values()),
        "occurred_at": AT,
        "refund_id": "r1",
        "payment_id": "p1",
        "customer_id": "c1",
        "merchant_id": "m1",
        "amount": Money(amount_minor=amount_minor, currency=currency),
    }
    return RefundIssued(**{**fields, **over})


def test_a_refund_fits_only_what_is_left_of_its_captured_payment():
    state, _ = fold([PaymentCaptured(event_id=event_id_for(8), occurred_at=AT, **COMMON)])
    assert refund_problem(state, _refund(1000)) is None
    state = apply_refund(state, 600)
    assert refund_problem(state, _refund(400)) is None
    reason, detail = refund_problem(state, _refund(401))
    assert reason == "refund_exceeds_captured" and "400 left" in detail


def test_a_refund_for_another_merchant_customer_or_currency_is_refused():
    state, _ = fold([PaymentCaptured(event_id=event_id_for(9), occurred_at=AT, **COMMON)])
    assert refund_problem(state, _refund(10, merchant_id="m2"))[0] == "refund_merchant_mismatch"
    assert refund_problem(state, _refund(10, customer_id="c2"))[0] == "refund_customer_mismatch"
    assert refund_problem(state, _refund(10, "USD"))[0] == "refund_currency_mismatch"


def test_a_payment_event_naming_another_merchant_may_not_change_the_payment():
    state, _ = fold([PaymentAuthorized(event_id=event_id_for(10), occurred_at=AT, **COMMON)])
    capture = PaymentCaptured(
        event_id=event_id_for(11), occurred_at=AT, **{**COMMON, "merchant_id": "m2"}
    )
    assert "another merchant" in party_problem(state, capture)
    assert party_problem(None, capture) is None
