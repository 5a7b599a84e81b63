"""The ledger sink: batched, idempotent writes to the MySQL primary, the system of record.

One transaction per batch (:mod:`.sink`). It first claims the batch's ``event_id`` values in
``processed_events`` and applies only the events not seen before, so a replayed event, or a
batch retried after a crash, changes nothing and the running totals are exact. Each aggregate
has its own writer, and each writer's docstring says why its rows are safe to write again:

- :mod:`.parties`: customers and merchants;
- :mod:`.orders`: orders and their lines;
- :mod:`.activity`: bookings and app sessions;
- :mod:`.payments`: payments (through the state machine) and refunds;
- :mod:`.balances`: the additive running totals and the snapshot the projections copy.

SQL is MySQL 8 compatible: ``INSERT ... ON DUPLICATE KEY UPDATE`` and ``SELECT ... FOR UPDATE``,
nothing MariaDB-only.
"""

from streams.sinks.ledger.sink import LedgerSink

__all__ = ["LedgerSink"]
