"""The ledger sink: batched, idempotent writes to the MySQL primary.

One transaction per batch. It first asks which ``event_id`` values are already in
``processed_events`` and applies only the others, then records them in ``processed_events`` in
the same transaction. So a replayed event, or a batch retried after a crash, changes nothing,
and the running totals (``balances``, ``pair_totals``) are exact. SQL is MySQL 8 compatible:
``INSERT ... ON DUPLICATE KEY UPDATE`` and ``SELECT ... FOR UPDATE``, nothing MariaDB-only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, tuple_
from sqlalchemy.dialects.mysql import insert

from paystream.contracts.events import (
    BookingCancelled,
    BookingMade,
    CustomerRegistered,
    MerchantRegistered,
    OrderPlaced,
    PaymentEvent,
    RefundIssued,
    SessionEnded,
    SessionStarted,
)
from paystream.ledger.models import (
    AppSession,
    Balance,
    Booking,
    Customer,
    Merchant,
    Order,
    OrderLine,
    PairTotal,
    Payment,
    ProcessedEvent,
    Refund,
)
from paystream.stores.mysql import Database
from streams.payments.state import (
    PaymentState,
    apply_payment_event,
    apply_refund,
    newly_captured,
)
from streams.sinks.decisions import write_decisions
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals, Totals

T_PAYMENTS = cast(Table, Payment.__table__)
T_BALANCES = cast(Table, Balance.__table__)
T_PAIRS = cast(Table, PairTotal.__table__)
BALANCE_FIELDS = ("captured_minor", "captured_count", "refunded_minor", "refund_count")


def _naive_utc(value: datetime | None) -> datetime | None:
    # DATETIME columns hold UTC without a zone; MySQL drivers reject aware datetimes.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _upsert(
    conn: Connection, table: Any, rows: list[dict[str, Any]], update: Iterable[str]
) -> None:
    """``INSERT ... ON DUPLICATE KEY UPDATE`` for many rows in one statement."""
    if not rows:
        return
    stmt = insert(table.__table__)
    columns = list(update)
    if columns:
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    else:
        # Keep the first write: a no-op update of the key on conflict.
        key = table.__table__.primary_key.columns.values()[0].name
        stmt = stmt.on_duplicate_key_update({key: stmt.inserted[key]})
    conn.execute(stmt, rows)


class LedgerSink:
    """Applies batches of events to the ledger and reports the totals they touched."""

    name = "ledger"

    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self, batch: Sequence[Envelope]) -> LedgerSnapshot:
        """Apply the batch once, whatever was applied before; return touched totals."""
        with self.database.writer.begin() as conn:
            fresh = self._unprocessed(conn, batch)
            # Claim the events first with a plain INSERT: a second worker writing the same
            # batch concurrently blocks on these keys, then fails with a duplicate-key error,
            # rolls back, and its retry finds the events processed. No double count.
            self._mark_processed(conn, fresh)
            deltas = _Deltas()
            self._parties(conn, fresh)
            self._orders(conn, fresh)
            self._sessions(conn, fresh)
            self._bookings(conn, fresh)
            self._payments_and_refunds(conn, fresh, deltas)
            write_decisions(conn, fresh)
            deltas.flush(conn)
            return self._snapshot(conn, batch)

    # -- dedup ---------------------------------------------------------------------------

    @staticmethod
    def _unprocessed(conn: Connection, batch: Sequence[Envelope]) -> list[Envelope]:
        unique: dict[str, Envelope] = {}
        for item in batch:
            unique.setdefault(str(item.event.event_id), item)
        if not unique:
            return []
        done = set(
            conn.execute(
                select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(list(unique)))
            ).scalars()
        )
        return [item for key, item in unique.items() if key not in done]

    @staticmethod
    def _mark_processed(conn: Connection, fresh: list[Envelope]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            {
                "event_id": str(item.event.event_id),
                "event_type": item.event.event_type,
                "source_topic": item.topic,
                "source_partition": item.partition,
                "source_offset": item.offset,
                "occurred_at": _naive_utc(item.event.occurred_at),
                "processed_at": now,
            }
            for item in fresh
        ]
        if rows:
            conn.execute(insert(ProcessedEvent), rows)

    # -- entities ----------------------------------------------------------------------

    @staticmethod
    def _parties(conn: Connection, fresh: list[Envelope]) -> None:
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
                        "registered_at": _naive_utc(e.occurred_at),
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
                        "registered_at": _naive_utc(e.occurred_at),
                        "event_id": str(e.event_id),
                    }
                )
        _upsert(conn, Customer, customers, ())
        _upsert(conn, Merchant, merchants, ())

    @staticmethod
    def _orders(conn: Connection, fresh: list[Envelope]) -> None:
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
                    "placed_at": _naive_utc(e.occurred_at),
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
        _upsert(conn, Order, orders, ())
        _upsert(conn, OrderLine, lines, ())

    @staticmethod
    def _sessions(conn: Connection, fresh: list[Envelope]) -> None:
        started: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        for item in fresh:
            e = item.event
            at = _naive_utc(e.occurred_at)
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
        _upsert(conn, AppSession, started, ("device_id", "ip_country", "channel", "started_at"))
        _upsert(conn, AppSession, ended, ("ended_at", "end_reason"))

    @staticmethod
    def _bookings(conn: Connection, fresh: list[Envelope]) -> None:
        made: list[dict[str, Any]] = []
        cancelled: list[dict[str, Any]] = []
        for item in fresh:
            e = item.event
            at = _naive_utc(e.occurred_at)
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
        # A cancellation wins whatever the arrival order: "made" never resets the status.
        _upsert(
            conn,
            Booking,
            made,
            ("start_date", "end_date", "amount_minor", "currency", "booked_at"),
        )
        _upsert(conn, Booking, cancelled, ("status", "cancelled_at"))

    # -- money -------------------------------------------------------------------------

    def _payments_and_refunds(
        self, conn: Connection, fresh: list[Envelope], deltas: _Deltas
    ) -> None:
        events = sorted(
            (i.event for i in fresh if isinstance(i.event, PaymentEvent | RefundIssued)),
            key=lambda e: e.occurred_at,
        )
        if not events:
            return
        refunds = [e for e in events if isinstance(e, RefundIssued)]
        known_refunds = set()
        if refunds:
            known_refunds = set(
                conn.execute(
                    select(Refund.refund_id).where(
                        Refund.refund_id.in_([r.refund_id for r in refunds])
                    )
                ).scalars()
            )
        payment_ids = {e.payment_id for e in events if e.payment_id}
        before = self._lock_payments(conn, payment_ids)
        states: dict[str, PaymentState | None] = dict(before)
        # Refunds that arrived before their payment: credit them when the payment appears.
        early_refunds = self._refund_sums(conn, {p for p, s in before.items() if s is None})
        refund_rows = []
        for e in events:
            if isinstance(e, RefundIssued):
                if e.refund_id in known_refunds:
                    continue  # the same refund under another event id
                known_refunds.add(e.refund_id)
                refund_rows.append(_refund_row(e))
                deltas.refund(e)
                if e.payment_id is None:
                    continue
                current = states.get(e.payment_id)
                if current is None:
                    early_refunds[e.payment_id] = (
                        early_refunds.get(e.payment_id, 0) + e.amount.amount_minor
                    )
                else:
                    states[e.payment_id] = apply_refund(current, e.amount.amount_minor)
                continue
            previous = states.get(e.payment_id)
            after = apply_payment_event(previous, e)
            if previous is None and e.payment_id in early_refunds:
                after = apply_refund(after, early_refunds.pop(e.payment_id))
            if newly_captured(previous, after):
                deltas.capture(after)
            states[e.payment_id] = after
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [_payment_row(s, now) for s in states.values() if s is not None]
        _upsert(conn, Payment, rows, [c for c in rows[0] if c != "payment_id"] if rows else ())
        _upsert(conn, Refund, refund_rows, ())

    @staticmethod
    def _refund_sums(conn: Connection, payment_ids: set[str]) -> dict[str, int]:
        if not payment_ids:
            return {}
        refunds = Refund.__table__
        rows = conn.execute(
            select(refunds.c.payment_id, func.sum(refunds.c.amount_minor))
            .where(refunds.c.payment_id.in_(sorted(payment_ids)))
            .group_by(refunds.c.payment_id)
        ).all()
        return {pid: int(total) for pid, total in rows}

    @staticmethod
    def _lock_payments(conn: Connection, ids: set[str]) -> dict[str, PaymentState | None]:
        if not ids:
            return {}
        rows = conn.execute(
            select(T_PAYMENTS).where(T_PAYMENTS.c.payment_id.in_(sorted(ids))).with_for_update()
        ).mappings()
        found: dict[str, PaymentState | None] = {pid: None for pid in ids}
        for row in rows:
            fields = {k: row[k] for k in PaymentState.__dataclass_fields__}
            for key in ("authorized_at", "captured_at", "failed_at"):
                if fields[key] is not None:
                    fields[key] = fields[key].replace(tzinfo=UTC)
            found[row["payment_id"]] = PaymentState(**fields)
        return found

    # -- totals for the projections --------------------------------------------------

    @staticmethod
    def _snapshot(conn: Connection, batch: Sequence[Envelope]) -> LedgerSnapshot:
        owners: set[tuple[str, str]] = set()
        pairs: set[tuple[str, str]] = set()
        for item in batch:
            e = item.event
            if isinstance(e, PaymentEvent | RefundIssued):
                owners.add(("merchant", e.merchant_id))
                owners.add(("customer", e.customer_id))
                pairs.add((e.customer_id, e.merchant_id))
        snapshot = LedgerSnapshot()
        if owners:
            balances = Balance.__table__
            rows = conn.execute(
                select(balances).where(
                    tuple_(balances.c.owner_kind, balances.c.owner_id).in_(sorted(owners))
                )
            ).mappings()
            for b in rows:
                totals = Totals(**{f: b[f] for f in BALANCE_FIELDS})
                target = snapshot.merchants if b["owner_kind"] == "merchant" else snapshot.customers
                target[(b["owner_id"], b["currency"])] = totals
        if pairs:
            table = PairTotal.__table__
            for p in conn.execute(
                select(table).where(
                    tuple_(table.c.customer_id, table.c.merchant_id).in_(sorted(pairs))
                )
            ).mappings():
                snapshot.pairs[(p["customer_id"], p["merchant_id"], p["currency"])] = PairTotals(
                    p["payment_count"], p["amount_minor"]
                )
        return snapshot


def _payment_row(state: PaymentState, now: datetime) -> dict[str, Any]:
    row = asdict(state)
    for key in ("authorized_at", "captured_at", "failed_at"):
        row[key] = _naive_utc(row[key])
    row["status"] = state.status
    row["updated_at"] = now
    return row


def _refund_row(e: RefundIssued) -> dict[str, Any]:
    return {
        "refund_id": e.refund_id,
        "payment_id": e.payment_id,
        "customer_id": e.customer_id,
        "merchant_id": e.merchant_id,
        "amount_minor": e.amount.amount_minor,
        "currency": e.amount.currency,
        "reason": str(e.reason),
        "issued_at": _naive_utc(e.occurred_at),
        "event_id": str(e.event_id),
    }


class _Deltas:
    """Balance and pair changes of one batch, written as additive upserts."""

    def __init__(self) -> None:
        self.balances: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.pairs: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])

    def capture(self, payment: PaymentState) -> None:
        for kind, owner in (("merchant", payment.merchant_id), ("customer", payment.customer_id)):
            entry = self.balances[(kind, owner, payment.currency)]
            entry[0] += payment.amount_minor
            entry[1] += 1
        pair = self.pairs[(payment.customer_id, payment.merchant_id, payment.currency)]
        pair[0] += 1
        pair[1] += payment.amount_minor

    def refund(self, e: RefundIssued) -> None:
        for kind, owner in (("merchant", e.merchant_id), ("customer", e.customer_id)):
            entry = self.balances[(kind, owner, e.amount.currency)]
            entry[2] += e.amount.amount_minor
            entry[3] += 1

    def flush(self, conn: Connection) -> None:
        # Sorted keys give every worker the same lock order, which avoids deadlocks.
        if self.balances:
            stmt = insert(T_BALANCES)
            stmt = stmt.on_duplicate_key_update(
                {f: T_BALANCES.c[f] + stmt.inserted[f] for f in BALANCE_FIELDS}
            )
            rows = [
                {
                    "owner_kind": k[0],
                    "owner_id": k[1],
                    "currency": k[2],
                    **dict(zip(BALANCE_FIELDS, v, strict=True)),
                }
                for k, v in sorted(self.balances.items())
            ]
            conn.execute(stmt, rows)
        if self.pairs:
            stmt = insert(T_PAIRS)
            stmt = stmt.on_duplicate_key_update(
                {f: T_PAIRS.c[f] + stmt.inserted[f] for f in ("payment_count", "amount_minor")}
            )
            rows = [
                {
                    "customer_id": k[0],
                    "merchant_id": k[1],
                    "currency": k[2],
                    "payment_count": v[0],
                    "amount_minor": v[1],
                }
                for k, v in sorted(self.pairs.items())
            ]
            conn.execute(stmt, rows)
