"""The ledger sink: one transaction per batch, deduplicated by ``event_id``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects.mysql import insert
from sqlalchemy.exc import IntegrityError

from paystream.ledger.models import ProcessedEvent
from paystream.stores.mysql import Database
from streams.sinks.decisions import write_decisions
from streams.sinks.ledger.activity import write_bookings, write_sessions
from streams.sinks.ledger.balances import BalanceDeltas, read_snapshot
from streams.sinks.ledger.holds import T_EVENTS, refusals
from streams.sinks.ledger.orders import write_orders
from streams.sinks.ledger.parties import write_parties
from streams.sinks.ledger.payments import write_payments_and_refunds
from streams.sinks.ledger.sql import execute_rows, in_values, naive_utc
from streams.sinks.port import Envelope, LedgerSnapshot

_DUPLICATE_KEY = 1062  # ER_DUP_ENTRY, on MariaDB and MySQL 8


class LedgerSink:
    """Applies batches of events to the ledger and reports the totals they touched."""

    name = "ledger"

    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self, batch: Sequence[Envelope]) -> LedgerSnapshot:
        """Apply the batch once, whatever was applied before; return touched totals."""
        with self.database.writer.begin() as conn:
            fresh, replayed = _claim(conn, batch)
            deltas = BalanceDeltas()
            write_parties(conn, fresh)
            write_orders(conn, fresh)
            write_sessions(conn, fresh)
            write_bookings(conn, fresh)
            refused_now = write_payments_and_refunds(conn, fresh, deltas)
            write_decisions(conn, fresh)
            deltas.flush(conn)
            snapshot = read_snapshot(conn, batch)
            # From the holds table, not from this pass: a retried batch that finds its events
            # processed still sends the dead letters a crash may have lost. A hold names the
            # event it refuses and the one that decided it, and only a pass applying that event
            # writes it; so with every event new here and nothing refused by this pass, no
            # hold can name the batch, and the query (two 1,000-id lists) is skipped.
            if replayed or refused_now:
                snapshot.refused = refusals(conn, [str(i.event.event_id) for i in batch])
            return snapshot


def _claim(conn: Connection, batch: Sequence[Envelope]) -> tuple[list[Envelope], bool]:
    """Record the batch's new events as processed; return them, and whether any was not new.

    The claim is what makes the batch exactly-once: a plain INSERT, so a second worker
    writing the same events concurrently blocks on their keys until this transaction ends.
    It is tried first for the whole batch, the common case, which saves looking the ids up.
    Only when a key exists already (a replay, a retried batch, or the other worker's commit)
    does the claim fall back to reading which ids are recorded, then claims the rest.
    """
    unique: dict[str, Envelope] = {}
    for item in batch:
        unique.setdefault(str(item.event.event_id), item)  # a batch may repeat an event
    if not unique:
        return [], False
    try:
        # A savepoint: a failed multi-row INSERT is undone whole, the transaction goes on.
        with conn.begin_nested():
            _mark_processed(conn, list(unique.values()))
        return list(unique.values()), False
    except IntegrityError as exc:
        # The table's one unique key is the event id: a duplicate is an event claimed before.
        if not (exc.orig is not None and exc.orig.args and exc.orig.args[0] == _DUPLICATE_KEY):
            raise
    # No consistent read has run in this transaction yet, so this one sees every commit up
    # to now, the other worker's included.
    done = set(
        conn.execute(
            select(ProcessedEvent.event_id).where(in_values(conn, (T_EVENTS.c.event_id,), unique))
        ).scalars()
    )
    fresh = [item for key, item in unique.items() if key not in done]
    _mark_processed(conn, fresh)
    return fresh, True


def _mark_processed(conn: Connection, fresh: list[Envelope]) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "event_id": str(item.event.event_id),
            "event_type": item.event.event_type,
            "source_topic": item.topic,
            "source_partition": item.partition,
            "source_offset": item.offset,
            "occurred_at": naive_utc(item.event.occurred_at),
            "processed_at": now,
        }
        for item in fresh
    ]
    # A plain INSERT: a key claimed already fails the statement (see _claim).
    execute_rows(conn, insert(ProcessedEvent), rows)
