"""Which sink errors are worth waiting out, and how a batch with a poison record gets through.

A store that restarts, a dropped connection, a deadlock or a lock wait clears up by itself:
those errors are *transient* (:func:`paystream.retry.is_transient`), and the batch is retried
with backoff until the store is back.
An error that the same records would raise again on every attempt is *deterministic*: a value
out of its column's range (``DataError``), a constraint the data breaks (``IntegrityError``),
SQL the server refuses (``ProgrammingError``). Retrying those forever would stop the
partition for good, so the ledger bisects the batch instead: each half is written in its own
transaction until the records that fail alone are found. Those go to the dead-letter topic
with the database's reason, and every other record is applied.

The contracts bound every integer to its column type, so a poison record should be refused
at validation, in every sink alike; this is the net under that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError

from paystream.contracts.deadletter import DeadLetter
from paystream.retry import is_transient
from streams.sinks.port import Envelope, LedgerSnapshot

log = logging.getLogger(__name__)


def is_deterministic(exc: BaseException) -> bool:
    """Whether the same records would fail the same way again (a poison record)."""
    return isinstance(exc, DBAPIError) and not is_transient(exc)


def bisect_write(
    write: Callable[[Sequence[Envelope]], LedgerSnapshot],
    batch: Sequence[Envelope],
    first_error: BaseException,
) -> tuple[LedgerSnapshot, list[DeadLetter]]:
    """Write ``batch`` in halves until the records that fail alone are isolated.

    ``write`` is the (retrying) ledger write; it raises a deterministic error for a part that
    holds a poison record. Returns the merged totals of every committed part, newest last,
    and a dead letter for each record that failed alone.
    """
    snapshot, dead = LedgerSnapshot(), []

    def split(part: Sequence[Envelope], error: BaseException) -> None:
        if len(part) == 1:
            item = part[0]
            log.warning("dead-lettering %s: %s", item.event.event_id, error)
            dead.append(
                DeadLetter.capped(
                    reason="ledger_rejected",
                    detail=f"{type(error).__name__}: {getattr(error, 'orig', error)}"[:2000],
                    source=item.topic,
                    partition=item.partition,
                    offset=item.offset,
                    original=item.event.to_bytes(),
                )
            )
            return
        middle = len(part) // 2
        # Depth first, in log order: a half is settled before the next one is written, so
        # the ledger sees the surviving events in the order they arrived.
        for half in (part[:middle], part[middle:]):
            try:
                written = write(half)
            except Exception as exc:
                if not is_deterministic(exc):
                    raise
                split(half, exc)
                continue
            snapshot.merchants.update(written.merchants)
            snapshot.customers.update(written.customers)
            snapshot.pairs.update(written.pairs)
            snapshot.refused.extend(written.refused)

    split(batch, first_error)
    return snapshot, dead
