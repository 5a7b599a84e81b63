"""The ledger's tables (SQLAlchemy 2). MySQL 8 compatible; MariaDB runs it locally.

Money columns are BIGINT minor units beside a CHAR(3) currency. Entity tables are keyed by
their business id; ``processed_events`` is keyed by ``event_id`` and is written in the same
transaction as each event's effects, which is what makes the ledger exactly-once under an
at-least-once stream. ``balances`` and ``pair_totals`` hold running totals maintained in that
same transaction; Redis and the graph copy their absolute values.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

Id = String(64)
Money = BigInteger
Currency = CHAR(3)
# Microsecond precision: event times keep their order within a second. Stored as UTC.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class ProcessedEvent(Base):
    """Every event applied to the ledger, with where it was read from."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(CHAR(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    source_topic: Mapped[str] = mapped_column(String(128))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    processed_at: Mapped[datetime] = mapped_column(Timestamp)


class Customer(Base):
    """A customer (guest checkouts included)."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    country: Mapped[str] = mapped_column(String(64))
    email_sha256: Mapped[str | None] = mapped_column(CHAR(64))
    guest: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(Timestamp)
    event_id: Mapped[str] = mapped_column(CHAR(36), unique=True)


class Merchant(Base):
    """A merchant."""

    __tablename__ = "merchants"

    merchant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(64))
    settlement_currency: Mapped[str] = mapped_column(Currency)
    registered_at: Mapped[datetime] = mapped_column(Timestamp)
    event_id: Mapped[str] = mapped_column(CHAR(36), unique=True)


class Order(Base):
    """An e-commerce order; its lines are in ``order_lines``."""

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    merchant_id: Mapped[str] = mapped_column(Id, index=True)
    total_minor: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(Currency)
    line_count: Mapped[int] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    event_id: Mapped[str] = mapped_column(CHAR(36), unique=True)


class OrderLine(Base):
    """One product line of an order."""

    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(Id, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(Id, index=True)
    description: Mapped[str] = mapped_column(String(256))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Money)


class Payment(Base):
    """A payment and its state: authorized → captured → refunded, or failed.

    Each event fills its own columns, so the status is derived the same way whatever order
    the events arrive in (see ``streams.payments.state``).
    """

    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    merchant_id: Mapped[str] = mapped_column(Id, index=True)
    order_id: Mapped[str | None] = mapped_column(Id)
    booking_id: Mapped[str | None] = mapped_column(Id)
    amount_minor: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(Currency)
    status: Mapped[str] = mapped_column(String(24), index=True)
    method: Mapped[str | None] = mapped_column(String(16))
    card_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[str | None] = mapped_column(Id)
    ip_country: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(32))
    refunded_minor: Mapped[int] = mapped_column(Money, default=0)
    authorized_at: Mapped[datetime | None] = mapped_column(Timestamp)
    captured_at: Mapped[datetime | None] = mapped_column(Timestamp)
    failed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class Refund(Base):
    """Money returned to a customer (its own event, never a negative payment)."""

    __tablename__ = "refunds"

    refund_id: Mapped[str] = mapped_column(Id, primary_key=True)
    payment_id: Mapped[str | None] = mapped_column(Id, index=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    merchant_id: Mapped[str] = mapped_column(Id, index=True)
    amount_minor: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(Currency)
    reason: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    event_id: Mapped[str] = mapped_column(CHAR(36), unique=True)


class Booking(Base):
    """A hotel or car-rental booking."""

    __tablename__ = "bookings"

    booking_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    merchant_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    amount_minor: Mapped[int | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Currency)
    status: Mapped[str] = mapped_column(String(16))
    booked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cancelled_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class AppSession(Base):
    """An app session on a device."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    device_id: Mapped[str | None] = mapped_column(Id)
    ip_country: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class Balance(Base):
    """Running totals of one merchant or customer in one currency."""

    __tablename__ = "balances"

    owner_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(Id, primary_key=True)
    currency: Mapped[str] = mapped_column(Currency, primary_key=True)
    captured_minor: Mapped[int] = mapped_column(Money, default=0)
    captured_count: Mapped[int] = mapped_column(Integer, default=0)
    refunded_minor: Mapped[int] = mapped_column(Money, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)


class PairTotal(Base):
    """Captured payments from one customer to one merchant (the graph's PAID edge)."""

    __tablename__ = "pair_totals"

    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    merchant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    currency: Mapped[str] = mapped_column(Currency, primary_key=True)
    payment_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_minor: Mapped[int] = mapped_column(Money, default=0)


Index("ix_processed_events_processed_at", ProcessedEvent.processed_at)


class RiskDecision(Base):
    """The risk agent's decision on one payment, with the feature vector it used.

    One row per payment, whatever the number of times the authorization was re-scored
    (a replay re-publishes the same decision event id). ``features`` is JSON text of the
    ``FEATURES`` vector (``null`` where missing): fraud training reads it back, so the model
    learns from exactly what scoring saw. ``reasons`` is a comma-separated list of codes.
    """

    __tablename__ = "risk_decisions"

    payment_id: Mapped[str] = mapped_column(Id, primary_key=True)
    event_id: Mapped[str] = mapped_column(CHAR(36), unique=True)
    customer_id: Mapped[str] = mapped_column(Id, index=True)
    merchant_id: Mapped[str] = mapped_column(Id, index=True)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(Currency)
    decision: Mapped[str] = mapped_column(String(16), index=True)
    score: Mapped[float] = mapped_column(Double)
    rules_score: Mapped[float] = mapped_column(Double)
    reasons: Mapped[str] = mapped_column(String(512))
    model_version: Mapped[str | None] = mapped_column(String(64))
    degraded: Mapped[bool] = mapped_column(Boolean)
    features: Mapped[str] = mapped_column(Text)
    authorized_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    decided_at: Mapped[datetime] = mapped_column(Timestamp)


class ApiKey(Base):
    """An API key's record: its HMAC and scope, never the key itself.

    The ledger is the system of record for keys, so that losing Redis (their cache) locks
    nobody out; ``revoked_at`` is kept rather than the row deleted, so a revoked key id can
    never be taken by a cache miss for an unknown one.
    """

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(CHAR(64))
    role: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str | None] = mapped_column(Id, index=True)
    customer_id: Mapped[str | None] = mapped_column(Id)
    rate_per_s: Mapped[float | None] = mapped_column(Double)
    burst: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class LedgerHold(Base):
    """A money event the ledger could not book yet, or refused.

    A refund is booked only against a captured payment of the same merchant, customer and
    currency, up to what is left to refund. One that names a payment not yet captured waits
    here (``state`` ``pending``) and is decided when the capture arrives. An event that breaks
    a rule is kept as ``refused`` with its reason, so that a retried batch sends its dead
    letter again. ``payload`` is the validated event, already free of card numbers.
    """

    __tablename__ = "ledger_holds"

    event_id: Mapped[str] = mapped_column(CHAR(36), primary_key=True)
    payment_id: Mapped[str] = mapped_column(Id, index=True)
    refund_id: Mapped[str | None] = mapped_column(Id, unique=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(mysql.LONGBLOB())
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    held_at: Mapped[datetime] = mapped_column(Timestamp)
    #: The event whose batch decided the hold: the capture, or the refused event itself.
    decided_by: Mapped[str | None] = mapped_column(CHAR(36), index=True)
