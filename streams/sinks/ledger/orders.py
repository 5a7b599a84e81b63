"""Orders and their lines.

Idempotent because an order is immutable once placed: its row and its lines are keyed by
``order_id`` (and ``line_no``), and a repeat keeps the first write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from paystream.contracts.events import OrderPlaced
from paystream.ledger.models import Order, OrderLine
from streams.sinks.ledger.sql import naive_utc, upsert
from streams.sinks.port import Envelope


def write_orders(conn: Connection, fresh: list[Envelope]) -> None:
    """Insert the batch's placed orders with their lines."""
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for item in fresh:
        e = item.event
        if not isinstance(e, OrderPlaced):
            continue
        orders.append(
            {
                "order_id": e.order_id,
                "customer_id": e.customer_id,
                "merchant_id": e.merchant_id,
                "total_minor": e.total.amount_minor,
                "currency": e.total.currency,
                "line_count": len(e.lines),
                "placed_at": naive_utc(e.occurred_at),
                "event_id": str(e.event_id),
            }
        )
        lines.extend(
            {
                "order_id": e.order_id,
                "line_no": line.line_no,
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in e.lines
        )
    upsert(conn, Order, orders, ())
    upsert(conn, OrderLine, lines, ())
