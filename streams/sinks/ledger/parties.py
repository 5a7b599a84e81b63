"""Customers and merchants.

Idempotent because a party is written once: the first registration of an id wins and a
repeat, whether a replay or a second ``registered`` event, is a no-op on its primary key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from paystream.contracts.events import CustomerRegistered, MerchantRegistered
from paystream.ledger.models import Customer, Merchant
from streams.sinks.ledger.sql import naive_utc, upsert
from streams.sinks.port import Envelope


def write_parties(conn: Connection, fresh: list[Envelope]) -> None:
    """Insert the batch's newly registered customers and merchants."""
    customers: list[dict[str, Any]] = []
    merchants: list[dict[str, Any]] = []
    for item in fresh:
        e = item.event
        if isinstance(e, CustomerRegistered):
            customers.append(
                {
                    "customer_id": e.customer_id,
                    "country": e.country,
                    "email_sha256": e.email_sha256,
                    "guest": e.guest,
                    "registered_at": naive_utc(e.occurred_at),
                    "event_id": str(e.event_id),
                }
            )
        elif isinstance(e, MerchantRegistered):
            merchants.append(
                {
                    "merchant_id": e.merchant_id,
                    "name": e.name,
                    "category": e.category,
                    "country": e.country,
                    "settlement_currency": e.settlement_currency,
                    "registered_at": naive_utc(e.occurred_at),
                    "event_id": str(e.event_id),
                }
            )
    upsert(conn, Customer, customers, ())
    upsert(conn, Merchant, merchants, ())
