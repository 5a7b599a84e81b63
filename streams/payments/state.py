"""The payment state machine: authorized → captured → refunded, or failed.

Events may arrive out of order (a capture before its authorization, a refund before the
capture), so the state is not a cursor that events move forward. Each event fills its own
facts (``authorized_at``, ``captured_at``, ``failed_at``, refunded amount) and the status is
derived from the facts by precedence: refunded > captured > failed > authorized. Any arrival
order of the same events yields the same row, and money moves exactly once: when
``captured_at`` goes from unknown to known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from paystream.contracts.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
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
        return replace(
            state,
            # The authorization carries the payment's full details; it wins over a capture's.
            amount_minor=event.amount.amount_minor,
            currency=event.amount.currency,
            order_id=event.order_id or state.order_id,
            booking_id=event.booking_id or state.booking_id,
            method=str(event.method),
            card_fingerprint=event.card_fingerprint or state.card_fingerprint,
            device_id=event.device_id or state.device_id,
            ip_country=event.ip_country or state.ip_country,
            authorized_at=_first(state.authorized_at, event.occurred_at),
        )
    if isinstance(event, PaymentCaptured):
        return replace(state, captured_at=_first(state.captured_at, event.occurred_at))
    if isinstance(event, PaymentFailed):
        return replace(
            state,
            failed_at=_first(state.failed_at, event.occurred_at),
            failure_code=state.failure_code or event.failure_code,
        )
    raise TypeError(f"not a payment event: {type(event).__name__}")


def apply_refund(state: PaymentState, amount_minor: int) -> PaymentState:
    """Record a refund against the payment."""
    return replace(state, refunded_minor=state.refunded_minor + amount_minor)


def newly_captured(before: PaymentState | None, after: PaymentState) -> bool:
    """True when this fold is the one that captured the payment (money moves now)."""
    return after.captured_at is not None and (before is None or before.captured_at is None)
