"""Running totals per owner (merchant, customer) and per customer-merchant pair.

These are the one non-idempotent write in the ledger: ``captured_minor = captured_minor + ?``.
They are exact because they run in the same transaction as the ``processed_events`` claim
(:mod:`.sink`): an event adds to the totals only in the transaction that first records it, and
a replay or a retried batch finds it recorded and adds nothing. After the write the sink reads
the totals back as a :class:`LedgerSnapshot`, which the projections copy as absolute values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.mysql import insert

from paystream.contracts.events import PaymentEvent, RefundIssued
from paystream.ledger.models import Balance, PairTotal
from paystream.ledger.totals import Totals
from streams.payments.state import PaymentState
from streams.sinks.ledger.sql import execute_rows, in_values
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals

T_BALANCES = cast(Table, Balance.__table__)
T_PAIRS = cast(Table, PairTotal.__table__)
BALANCE_FIELDS = ("captured_minor", "captured_count", "refunded_minor", "refund_count")
PAIR_FIELDS = ("payment_count", "amount_minor")


class BalanceDeltas:
    """Balance and pair changes of one batch, written as additive upserts."""

    def __init__(self) -> None:
        self.balances: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.pairs: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])

    def capture(self, payment: PaymentState) -> None:
        """Count a payment whose capture became known in this batch."""
        for kind, owner in (("merchant", payment.merchant_id), ("customer", payment.customer_id)):
            entry = self.balances[(kind, owner, payment.currency)]
            entry[0] += payment.amount_minor
            entry[1] += 1
        pair = self.pairs[(payment.customer_id, payment.merchant_id, payment.currency)]
        pair[0] += 1
        pair[1] += payment.amount_minor

    def refund(self, e: RefundIssued) -> None:
        """Count a refund seen for the first time in this batch."""
        for kind, owner in (("merchant", e.merchant_id), ("customer", e.customer_id)):
            entry = self.balances[(kind, owner, e.amount.currency)]
            entry[2] += e.amount.amount_minor
            entry[3] += 1

    def flush(self, conn: Connection) -> None:
        """Add the batch's changes to the stored totals, one statement per table."""
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
            execute_rows(conn, stmt, rows)
        if self.pairs:
            stmt = insert(T_PAIRS)
            stmt = stmt.on_duplicate_key_update(
                {f: T_PAIRS.c[f] + stmt.inserted[f] for f in PAIR_FIELDS}
            )
            rows = [
                {
                    "customer_id": k[0],
                    "merchant_id": k[1],
                    "currency": k[2],
                    **dict(zip(PAIR_FIELDS, v, strict=True)),
                }
                for k, v in sorted(self.pairs.items())
            ]
            execute_rows(conn, stmt, rows)


def read_snapshot(conn: Connection, batch: Sequence[Envelope]) -> LedgerSnapshot:
    """The current totals of every owner and pair the batch's money events touch.

    Read inside the writing transaction, so they include this batch and, for a replayed
    batch, are the totals as they stand (never counted twice).
    """
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
        rows = conn.execute(
            select(T_BALANCES).where(
                in_values(conn, (T_BALANCES.c.owner_kind, T_BALANCES.c.owner_id), sorted(owners))
            )
        ).mappings()
        for b in rows:
            totals = Totals(**{f: b[f] for f in BALANCE_FIELDS})
            target = snapshot.merchants if b["owner_kind"] == "merchant" else snapshot.customers
            target[(b["owner_id"], b["currency"])] = totals
    if pairs:
        for p in conn.execute(
            select(T_PAIRS).where(
                in_values(conn, (T_PAIRS.c.customer_id, T_PAIRS.c.merchant_id), sorted(pairs))
            )
        ).mappings():
            snapshot.pairs[(p["customer_id"], p["merchant_id"], p["currency"])] = PairTotals(
                p["payment_count"], p["amount_minor"]
            )
    return snapshot
