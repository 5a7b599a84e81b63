"""The payment state machine: authorized → captured → refunded, or failed.

Events may arrive out of order (a capture before its authorization, a refund before the
capture), so the state is not a cursor that events move forward. Each event fills its own
facts (``authorized_at``, ``captured_at``, ``failed_at``, refunded amount) and the status is
derived from the facts by precedence: refunded > captured > failed > authorized. Any arrival
order of the same events yields the same row, and money moves exactly once: when
``captured_at`` goes from unknown to known. The amount that moves is the capture's, and the
row keeps it whichever of authorization and capture arrives first. Refunds are checked
against the captured state (:func:`refund_problem`) before they are booked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    RefundIssued,
)

AUTHORIZED = "authorized"
CAPTURED = "captured"
FAILED = "failed"
REFUNDED = "refunded"
PARTIALLY_REFUNDED = "partially_refunded"


@dataclass(frozen=True)
class PaymentState:
    """Everything the ledger knows about one payment."""

    payment_id: str
    customer_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    order_id: str | None = None
    booking_id: str | None = None
    method: str | None = None
    card_fingerprint: str | None = None
    device_id: str | None = None
    ip_country: str | None = None
    failure_code: str | None = None
    refunded_minor: int = 0
    authorized_at: datetime | None = None
    captured_at: datetime | None = None
    failed_at: datetime | None = None

    @property
    def status(self) -> str:
        """Status derived from the facts, independent of arrival order."""
        if self.captured_at is not None:
            if self.refunded_minor >= self.amount_minor > 0:
                return REFUNDED
            return PARTIALLY_REFUNDED if self.refunded_minor else CAPTURED
        if self.failed_at is not None:
            return FAILED
        return AUTHORIZED


def _first(current: datetime | None, seen: datetime) -> datetime:
    # A duplicate event (another id, same fact) must not move the recorded time.
    return seen if current is None else min(current, seen)


def apply_payment_event(state: PaymentState | None, event: PaymentEvent) -> PaymentState:
    """Fold one payment event into the state (``None`` for a payment not seen yet)."""
    if state is None:
        state = PaymentState(
            payment_id=event.payment_id,
            customer_id=event.customer_id,
            merchant_id=event.merchant_id,
            amount_minor=event.amount.amount_minor,
            currency=event.amount.currency,
        )
    if isinstance(event, PaymentAuthorized):
        # Once captured, the amount is what moved: an authorization that arrives after its
        # capture fills in the details but leaves the booked amount alone.
        money = {} if state.captured_at is not None else _money(event)
        return replace(
            state,
            **money,
            order_id=event.order_id or state.order_id,
            booking_id=event.booking_id or state.booking_id,
            method=str(event.method),
            card_fingerprint=event.card_fingerprint or state.card_fingerprint,
            device_id=event.device_id or state.device_id,
            ip_country=event.ip_country or state.ip_country,
            authorized_at=_first(state.authorized_at, event.occurred_at),
        )
    if isinstance(event, PaymentCaptured):
        if state.captured_at is not None:
            # A duplicate capture (another event id) neither moves money nor the amount.
            return replace(state, captured_at=_first(state.captured_at, event.occurred_at))
        # The capture's amount is the money that moves, in either arrival order, so the
        # payment row and the balances booked from it always agree.
        return replace(state, **_money(event), captured_at=event.occurred_at)
    if isinstance(event, PaymentFailed):
        return replace(
            state,
            failed_at=_first(state.failed_at, event.occurred_at),
            failure_code=state.failure_code or event.failure_code,
        )
    raise TypeError(f"not a payment event: {type(event).__name__}")


def _money(event: PaymentEvent) -> dict[str, Any]:
    return {"amount_minor": event.amount.amount_minor, "currency": event.amount.currency}


def party_problem(state: PaymentState | None, event: PaymentEvent) -> str | None:
    """Why ``event`` may not change this payment: it names another merchant or customer."""
    if state is None:
        return None
    if event.merchant_id != state.merchant_id:
        return f"payment {state.payment_id} belongs to another merchant"
    if event.customer_id != state.customer_id:
        return f"payment {state.payment_id} belongs to another customer"
    return None


def refund_problem(state: PaymentState, refund: RefundIssued) -> tuple[str, str] | None:
    """The reason code and detail when ``refund`` may not be booked against ``state``.

    A refund returns money the payment captured: same merchant, customer and currency, and
    never more than was captured minus what was refunded already. ``state`` must be captured.
    """
    if refund.merchant_id != state.merchant_id:
        return "refund_merchant_mismatch", f"payment {state.payment_id} is another merchant's"
    if refund.customer_id != state.customer_id:
        return "refund_customer_mismatch", f"payment {state.payment_id} is another customer's"
    if refund.amount.currency != state.currency:
        return (
            "refund_currency_mismatch",
            f"refund in {refund.amount.currency}, payment in {state.currency}",
        )
    left = state.amount_minor - state.refunded_minor
    if refund.amount.amount_minor > left:
        return (
            "refund_exceeds_captured",
            f"refund of {refund.amount.amount_minor} {state.currency} minor units, "
            f"{left} left to refund of {state.amount_minor} captured",
        )
    return None


def apply_refund(state: PaymentState, amount_minor: int) -> PaymentState:
    """Record a refund against the payment."""
    return replace(state, refunded_minor=state.refunded_minor + amount_minor)


def newly_captured(before: PaymentState | None, after: PaymentState) -> bool:
    """True when this fold is the one that captured the payment (money moves now)."""
    return after.captured_at is not None and (before is None or before.captured_at is None)
