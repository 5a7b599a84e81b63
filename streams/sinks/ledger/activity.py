"""Bookings (hotel, car rental) and app sessions.

Both have two events that may arrive in either order (made / cancelled, started / ended). Each
event fills only its own columns, so the two commute and a repeat rewrites the same values:
any arrival order, replayed any number of times, gives the same row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from paystream.contracts.events import BookingCancelled, BookingMade, SessionEnded, SessionStarted
from paystream.ledger.models import AppSession, Booking
from streams.sinks.ledger.sql import naive_utc, upsert
from streams.sinks.port import Envelope


def write_sessions(conn: Connection, fresh: list[Envelope]) -> None:
    """Upsert app sessions: a start fills device and channel, an end its time and reason."""
    started: list[dict[str, Any]] = []
    ended: list[dict[str, Any]] = []
    for item in fresh:
        e = item.event
        at = naive_utc(e.occurred_at)
        if isinstance(e, SessionStarted):
            started.append(
                {
                    "session_id": e.session_id,
                    "customer_id": e.customer_id,
                    "device_id": e.device_id,
                    "ip_country": e.ip_country,
                    "channel": e.channel,
                    "started_at": at,
                    "updated_at": at,
                }
            )
        elif isinstance(e, SessionEnded):
            ended.append(
                {
                    "session_id": e.session_id,
                    "customer_id": e.customer_id,
                    "ended_at": at,
                    "end_reason": e.reason,
                    "updated_at": at,
                }
            )
    # Each kind only fills its own columns, so start and end commute.
    upsert(conn, AppSession, started, ("device_id", "ip_country", "channel", "started_at"))
    upsert(conn, AppSession, ended, ("ended_at", "end_reason"))


def write_bookings(conn: Connection, fresh: list[Envelope]) -> None:
    """Upsert bookings; a cancellation wins over the booking whatever the arrival order."""
    made: list[dict[str, Any]] = []
    cancelled: list[dict[str, Any]] = []
    for item in fresh:
        e = item.event
        at = naive_utc(e.occurred_at)
        if isinstance(e, BookingMade):
            made.append(
                {
                    "booking_id": e.booking_id,
                    "customer_id": e.customer_id,
                    "merchant_id": e.merchant_id,
                    "kind": str(e.kind),
                    "start_date": e.start_date,
                    "end_date": e.end_date,
                    "amount_minor": e.amount.amount_minor,
                    "currency": e.amount.currency,
                    "status": "booked",
                    "booked_at": at,
                    "updated_at": at,
                }
            )
        elif isinstance(e, BookingCancelled):
            cancelled.append(
                {
                    "booking_id": e.booking_id,
                    "customer_id": e.customer_id,
                    "merchant_id": e.merchant_id,
                    "kind": str(e.kind),
                    "status": "cancelled",
                    "cancelled_at": at,
                    "updated_at": at,
                }
            )
    # "made" never writes the status on conflict, so it cannot undo a cancellation.
    upsert(
        conn,
        Booking,
        made,
        ("start_date", "end_date", "amount_minor", "currency", "booked_at"),
    )
    upsert(conn, Booking, cancelled, ("status", "cancelled_at"))
