"""What every sink sees: validated events with their source position, and ledger totals.

The ledger (MySQL) is the system of record and the only sink that deduplicates: it records
each ``event_id`` in the same transaction as its effects, so running totals there are exact
under any replay. Redis and the graph are *projections*: they write idempotent operations
(upserts, set-membership, absolute values copied from the ledger's totals), so applying the
same batch twice, or a batch whose ledger write already committed before a crash, leaves the
same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from paystream.contracts import Event
from paystream.contracts.deadletter import DeadLetter
from paystream.ledger.totals import Totals


@dataclass(frozen=True)
class Envelope:
    """A validated event and where it was read from."""

    event: Event
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class PairTotals:
    """Captured payments from one customer to one merchant in one currency (the PAID edge)."""

    payment_count: int = 0
    amount_minor: int = 0


@dataclass
class LedgerSnapshot:
    """Absolute totals, read from the ledger after a batch commits, for what it touched.

    Keys: merchants and customers by ``(id, currency)``; pairs by
    ``(customer_id, merchant_id, currency)``.
    """

    merchants: dict[tuple[str, str], Totals] = field(default_factory=dict)
    customers: dict[tuple[str, str], Totals] = field(default_factory=dict)
    pairs: dict[tuple[str, str, str], PairTotals] = field(default_factory=dict)
    #: Dead letters for the batch's events the ledger refused by rule (never booked).
    refused: list[DeadLetter] = field(default_factory=list)


class Projection(Protocol):
    """A sink that projects a batch into a derived store (Redis, the graph)."""

    name: str

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Write the batch idempotently; raise on failure (the batch is then retried)."""

    def close(self) -> None:
        """Release connections."""
