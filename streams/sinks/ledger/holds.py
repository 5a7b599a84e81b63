"""Ledger holds: refunds waiting for their capture, and money events refused by rule.

A refund that names a payment the ledger has not seen captured cannot be checked yet (the
stream may deliver it first). It is parked as ``pending`` and decided, in event time, in the
batch that captures the payment. An event that breaks a rule (a refund beyond what is left,
in another currency, for another merchant's or customer's payment) is kept as ``refused``
and never booked.

Dead letters are sent after the batch commits, so a crash in between would lose them. They
are therefore rebuilt from this table for every batch, from the holds its events refused or
decided: a retried batch sends them again (the dead-letter key, the source position, makes
the copy overwrite its twin).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, or_, select, update
from sqlalchemy.dialects.mysql import insert

from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.events import Event, RefundIssued, parse_event
from paystream.ledger.models import LedgerHold, ProcessedEvent
from streams.sinks.ledger.sql import execute_rows, naive_utc

T_HOLDS = cast(Table, LedgerHold.__table__)
T_EVENTS = cast(Table, ProcessedEvent.__table__)
PENDING = "pending"
REFUSED = "refused"


@dataclass(frozen=True)
class Held:
    """A refund waiting for its payment's capture; ``stored`` when it waits from a past batch."""

    refund: RefundIssued
    stored: bool


class Holds:
    """The holds one batch reads and changes, written in one go at the end."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self._rows: dict[str, dict[str, Any]] = {}
        self._booked: list[str] = []

    def pending(self, payment_ids: Iterable[str]) -> dict[str, list[Held]]:
        """Refunds waiting for these payments, locked for this transaction."""
        wanted = sorted(set(payment_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(
            select(T_HOLDS.c.payment_id, T_HOLDS.c.payload)
            .where(T_HOLDS.c.payment_id.in_(wanted), T_HOLDS.c.state == PENDING)
            .order_by(T_HOLDS.c.event_id)
            .with_for_update()
        ).all()
        found: dict[str, list[Held]] = {}
        for payment_id, payload in rows:
            refund = parse_event(payload)
            assert isinstance(refund, RefundIssued)
            found.setdefault(payment_id, []).append(Held(refund, stored=True))
        return found

    def known_refunds(self, refund_ids: Sequence[str]) -> set[str]:
        """Which of these refund ids are held already (pending or refused)."""
        if not refund_ids:
            return set()
        query = select(T_HOLDS.c.refund_id).where(T_HOLDS.c.refund_id.in_(list(refund_ids)))
        return {r for r in self.conn.execute(query).scalars() if r is not None}

    def hold(self, refund: RefundIssued) -> None:
        """Park a refund until its payment is captured."""
        assert refund.payment_id is not None
        self._rows[str(refund.event_id)] = self._row(refund, refund.payment_id, PENDING)

    def refuse(self, event: Event, payment_id: str, reason: str, detail: str, by: str) -> None:
        """Record that ``event`` is never booked, and why; ``by`` is the deciding event."""
        row = self._row(event, payment_id, REFUSED)
        row.update(reason=reason, detail=detail[:255], decided_by=by)
        self._rows[str(event.event_id)] = row

    @property
    def refused_any(self) -> bool:
        """Whether this batch refused an event."""
        return any(row["state"] == REFUSED for row in self._rows.values())

    def booked(self, held: Held) -> None:
        """A parked refund was booked: it leaves the holds."""
        if held.stored:
            self._booked.append(str(held.refund.event_id))

    def flush(self) -> None:
        """Write the batch's holds; move booked refunds' ``processed_at`` to now."""
        if self._booked:
            self.conn.execute(delete(T_HOLDS).where(T_HOLDS.c.event_id.in_(self._booked)))
            # The lakehouse pulls refunds watermarked by their event's processed_at; the row
            # appears only now, so its watermark must say now, or an incremental pull that
            # already passed the refund's first arrival would never see it.
            self.conn.execute(
                update(T_EVENTS)
                .where(T_EVENTS.c.event_id.in_(self._booked))
                .values(processed_at=self.now)
            )
        if self._rows:
            stmt = insert(T_HOLDS)
            stmt = stmt.on_duplicate_key_update(
                {c: stmt.inserted[c] for c in ("state", "reason", "detail", "decided_by")}
            )
            execute_rows(self.conn, stmt, list(self._rows.values()))

    def _row(self, event: Event, payment_id: str, state: str) -> dict[str, Any]:
        return {
            "event_id": str(event.event_id),
            "payment_id": payment_id,
            "refund_id": event.refund_id if isinstance(event, RefundIssued) else None,
            "state": state,
            "reason": None,
            "detail": None,
            "payload": event.to_bytes(),
            "occurred_at": naive_utc(event.occurred_at),
            "held_at": self.now,
            "decided_by": None,
        }


def refusals(conn: Connection, event_ids: Sequence[str]) -> list[DeadLetter]:
    """Dead letters for the holds these events refused or decided, with their source position."""
    if not event_ids:
        return []
    ids = list(event_ids)
    rows = conn.execute(
        select(
            T_HOLDS.c.reason,
            T_HOLDS.c.detail,
            T_HOLDS.c.payload,
            T_EVENTS.c.source_topic,
            T_EVENTS.c.source_partition,
            T_EVENTS.c.source_offset,
        )
        .join(T_EVENTS, T_EVENTS.c.event_id == T_HOLDS.c.event_id)
        .where(
            T_HOLDS.c.state == REFUSED,
            or_(T_HOLDS.c.event_id.in_(ids), T_HOLDS.c.decided_by.in_(ids)),
        )
        .order_by(T_EVENTS.c.source_offset)
    ).all()
    return [
        DeadLetter.capped(
            reason=reason,
            detail=detail or "",
            source=topic,
            partition=partition,
            offset=offset,
            original=bytes(payload),
        )
        for reason, detail, payload, topic, partition, offset in rows
    ]
