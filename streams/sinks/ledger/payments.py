"""Payments and refunds: the only writes that move money.

Idempotent on three levels. The sink applies only events whose ``event_id`` it has not
recorded (:mod:`.sink`). A refund is also keyed by ``refund_id``, so the same refund sent
again under a new event id is skipped. And a payment's row is recomputed from its facts by the
state machine (``streams.payments.state``), under ``SELECT ... FOR UPDATE``: any arrival order
of the same events gives the same row, and money moves exactly once, when ``captured_at``
goes from unknown to known.

A refund is booked only when it fits its captured payment (``refund_problem``); before the
capture it waits in the holds (:mod:`.holds`), and one that does not fit is refused there and
dead-lettered, never booked. A payment event naming another merchant or customer than the
payment's is refused the same way.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from paystream.contracts.events import PaymentCaptured, PaymentEvent, RefundIssued
from paystream.ledger.models import Payment, Refund
from streams.payments.state import (
    PaymentState,
    apply_payment_event,
    apply_refund,
    newly_captured,
    party_problem,
    refund_problem,
)
from streams.sinks.ledger.balances import BalanceDeltas
from streams.sinks.ledger.holds import Held, Holds
from streams.sinks.ledger.sql import in_values, naive_utc, upsert
from streams.sinks.port import Envelope

T_PAYMENTS = cast(Table, Payment.__table__)
_STATE_FIELDS = tuple(f.name for f in fields(PaymentState))
_TIMES = ("authorized_at", "captured_at", "failed_at")


def write_payments_and_refunds(
    conn: Connection, fresh: list[Envelope], deltas: BalanceDeltas
) -> bool:
    """Apply the batch's payment and refund events in event time; add money moves to ``deltas``.

    Returns whether this pass refused any event (a hold in state ``refused``).
    """
    events = sorted(
        (i.event for i in fresh if isinstance(i.event, PaymentEvent | RefundIssued)),
        key=lambda e: e.occurred_at,
    )
    if not events:
        return False
    holds = Holds(conn)
    refunds = [e.refund_id for e in events if isinstance(e, RefundIssued)]
    known_refunds = _known_refunds(conn, refunds) | holds.known_refunds(refunds)
    payment_ids = {e.payment_id for e in events if e.payment_id}
    states: dict[str, PaymentState | None] = dict(_lock_payments(conn, payment_ids))
    # Refunds parked until their payment is captured: past batches', then this batch's.
    waiting = holds.pending(e.payment_id for e in events if isinstance(e, PaymentCaptured))
    refund_rows: list[dict[str, Any]] = []

    def decide(refund: RefundIssued, state: PaymentState, held: Held | None, by: str) -> None:
        # Called with a captured state only; books the refund or refuses it for good.
        problem = refund_problem(state, refund)
        if problem is not None:
            holds.refuse(refund, state.payment_id, *problem, by=by)
            return
        states[state.payment_id] = apply_refund(state, refund.amount.amount_minor)
        refund_rows.append(_refund_row(refund))
        deltas.refund(refund)
        if held is not None:
            holds.booked(held)

    for e in events:
        if isinstance(e, RefundIssued):
            if e.refund_id in known_refunds:
                continue  # the same refund under another event id
            known_refunds.add(e.refund_id)
            if e.payment_id is None:
                # A credit note names no payment: nothing to check it against.
                refund_rows.append(_refund_row(e))
                deltas.refund(e)
                continue
            current = states.get(e.payment_id)
            if current is None or current.captured_at is None:
                waiting.setdefault(e.payment_id, []).append(Held(e, stored=False))
            else:
                decide(e, current, None, str(e.event_id))
            continue
        previous = states.get(e.payment_id)
        mismatch = party_problem(previous, e)
        if mismatch is not None:
            holds.refuse(e, e.payment_id, "payment_party_mismatch", mismatch, by=str(e.event_id))
            continue
        after = apply_payment_event(previous, e)
        states[e.payment_id] = after
        if newly_captured(previous, after):
            deltas.capture(after)
            # Now the parked refunds can be checked, oldest first.
            for held in sorted(waiting.pop(e.payment_id, []), key=lambda h: h.refund.occurred_at):
                state = states[e.payment_id]
                assert state is not None
                decide(held.refund, state, held, str(e.event_id))
    for parked in waiting.values():
        for held in parked:
            if not held.stored:
                holds.hold(held.refund)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [_payment_row(s, now) for s in states.values() if s is not None]
    # The whole row is recomputed from its facts, so overwriting every column is exact.
    upsert(conn, Payment, rows, [c for c in rows[0] if c != "payment_id"] if rows else ())
    upsert(conn, Refund, refund_rows, ())
    holds.flush()
    return holds.refused_any


def _known_refunds(conn: Connection, refunds: list[str]) -> set[str]:
    if not refunds:
        return set()
    return set(
        conn.execute(select(Refund.refund_id).where(Refund.refund_id.in_(refunds))).scalars()
    )


def _lock_payments(conn: Connection, ids: set[str]) -> dict[str, PaymentState | None]:
    # FOR UPDATE, in sorted id order: two workers touching one payment serialize on its row
    # and always lock in the same order, so neither computes from a stale state.
    if not ids:
        return {}
    rows = conn.execute(
        select(T_PAYMENTS)
        .where(in_values(conn, (T_PAYMENTS.c.payment_id,), sorted(ids)))
        .with_for_update()
    ).mappings()
    found: dict[str, PaymentState | None] = {pid: None for pid in ids}
    for row in rows:
        facts = {k: row[k] for k in _STATE_FIELDS}
        for key in _TIMES:
            if facts[key] is not None:
                facts[key] = facts[key].replace(tzinfo=UTC)
        found[row["payment_id"]] = PaymentState(**facts)
    return found


def _payment_row(state: PaymentState, now: datetime) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies every value, a tenth of the ledger
    # worker's batch time on a history of one payment per pair (py-spy).
    row = {name: getattr(state, name) for name in _STATE_FIELDS}
    for key in _TIMES:
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
