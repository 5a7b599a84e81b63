"""Synthetic payment load: merchants, then authorizations spread over customers and cards."""

from __future__ import annotations

from datetime import UTC, datetime

from paystream.contracts import Event
from paystream.contracts.events import MerchantRegistered, PaymentAuthorized, event_id_for
from paystream.money import Money


def synthetic_payments(n: int, tag: str) -> list[Event]:
    """Twenty HKD merchants, then ``n`` authorizations over 2,000 customers, ids tagged ``tag``."""
    at = datetime.now(UTC)
    events: list[Event] = [
        MerchantRegistered(
            event_id=event_id_for(tag, "m", m),
            occurred_at=at,
            merchant_id=f"{tag}-m{m}",
            name=f"merchant {m}",
            category="retail",
            country="Hong Kong",
            settlement_currency="HKD",
        )
        for m in range(20)
    ]
    events += [
        PaymentAuthorized(
            event_id=event_id_for(tag, "p", i),
            occurred_at=at,
            payment_id=f"{tag}-p{i}",
            customer_id=f"{tag}-c{i % 2000}",
            merchant_id=f"{tag}-m{i % 20}",
            amount=Money(amount_minor=1000 + i % 5000, currency="HKD"),
            card_fingerprint=f"{(i % 2000):032x}",
            device_id=f"{tag}-d{i % 2000}",
        )
        for i in range(n)
    ]
    return events
