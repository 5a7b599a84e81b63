"""Payments and refunds: the only writes that move money.

Idempotent on three levels. The sink applies only events whose ``event_id`` it has not
recorded (:mod:`.sink`). A refund is also keyed by ``refund_id``, so the same refund sent
again under a new event id is skipped. And a payment's row is recomputed from its facts by the
state machine (``streams.payments.state``), under ``SELECT ... FOR UPDATE``: any arrival order
of the same events gives the same row, and money moves exactly once, when ``captured_at``
goes from unknown to known.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select

from paystream.contracts.events import PaymentEvent, RefundIssued
from paystream.ledger.models import Payment, Refund
from streams.payments.state import (
    PaymentState,
    apply_payment_event,
    apply_refund,
    newly_captured,
)
from streams.sinks.ledger.balances import BalanceDeltas
from streams.sinks.ledger.sql import naive_utc, upsert
from streams.sinks.port import Envelope

T_PAYMENTS = cast(Table, Payment.__table__)
T_REFUNDS = cast(Table, Refund.__table__)


def write_payments_and_refunds(
    conn: Connection, fresh: list[Envelope], deltas: BalanceDeltas
) -> None:
    """Apply the batch's payment and refund events in event time; add money moves to ``deltas``."""
    events = sorted(
        (i.event for i in fresh if isinstance(i.event, PaymentEvent | RefundIssued)),
        key=lambda e: e.occurred_at,
    )
    if not events:
        return
    known_refunds = _known_refunds(conn, [e for e in events if isinstance(e, RefundIssued)])
    payment_ids = {e.payment_id for e in events if e.payment_id}
    before = _lock_payments(conn, payment_ids)
    states: dict[str, PaymentState | None] = dict(before)
    # Refunds that arrived before their payment: credit them when the payment appears.
    early_refunds = _refund_sums(conn, {p for p, s in before.items() if s is None})
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
    # The whole row is recomputed from its facts, so overwriting every column is exact.
    upsert(conn, Payment, rows, [c for c in rows[0] if c != "payment_id"] if rows else ())
    upsert(conn, Refund, refund_rows, ())


def _known_refunds(conn: Connection, refunds: list[RefundIssued]) -> set[str]:
    if not refunds:
        return set()
    wanted = [r.refund_id for r in refunds]
    return set(conn.execute(select(Refund.refund_id).where(Refund.refund_id.in_(wanted))).scalars())


def _refund_sums(conn: Connection, payment_ids: set[str]) -> dict[str, int]:
    if not payment_ids:
        return {}
    rows = conn.execute(
        select(T_REFUNDS.c.payment_id, func.sum(T_REFUNDS.c.amount_minor))
        .where(T_REFUNDS.c.payment_id.in_(sorted(payment_ids)))
        .group_by(T_REFUNDS.c.payment_id)
    ).all()
    return {pid: int(total) for pid, total in rows}


def _lock_payments(conn: Connection, ids: set[str]) -> dict[str, PaymentState | None]:
    # FOR UPDATE, in sorted id order: two workers touching one payment serialize on its row
    # and always lock in the same order, so neither computes from a stale state.
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


def _payment_row(state: PaymentState, now: datetime) -> dict[str, Any]:
    row = asdict(state)
    for key in ("authorized_at", "captured_at", "failed_at"):
        row[key] = naive_utc(row[key])
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
        "issued_at": naive_utc(e.occurred_at),
        "event_id": str(e.event_id),
    }
