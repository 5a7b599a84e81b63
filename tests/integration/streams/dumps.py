"""Comparable dumps of the ledger, for idempotency tests."""

from sqlalchemy import text

from streams.reconcile import LEDGER_TABLES

TABLES = (*LEDGER_TABLES, "balances", "pair_totals")
# Bookkeeping columns that legitimately differ between two clean passes.
VOLATILE = (
    "updated_at",
    "processed_at",
    "held_at",
    "source_offset",
    "source_partition",
    "source_topic",
)


def ledger_dump(database, tables=TABLES):
    """Every row of every ledger table, as sorted tuples of text, volatile columns left out."""
    with database.writer.connect() as conn:
        return {
            t: sorted(
                tuple(str(v) for k, v in row._mapping.items() if k not in VOLATILE)
                for row in conn.execute(text(f"SELECT * FROM {t}"))
            )
            for t in tables
        }
