"""SQL helpers every ledger writer uses: UTC datetimes and multi-row upserts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.mysql import insert


def naive_utc(value: datetime | None) -> datetime | None:
    """A DATETIME column's value: UTC without a zone (MySQL drivers reject aware datetimes)."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], update: Iterable[str]) -> None:
    """``INSERT ... ON DUPLICATE KEY UPDATE`` for many rows in one statement.

    With ``update`` empty the first write of a key wins and a repeat is a no-op; otherwise the
    named columns take the new values. Either way the same rows written twice leave one row.
    """
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
