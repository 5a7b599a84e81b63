"""API key records in the ledger database, the keys' system of record.

Redis holds a copy of each record for the request path (``api.auth.KeyStore``), but a Redis
restart must not lock every client out, so the records live here first: created and revoked
on the primary, read back from the replica when Redis has no copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import DBAPIError

from api.auth import KeyRecord
from paystream.errors import ServiceUnavailableError
from paystream.ledger.models import ApiKey
from paystream.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from api.auth import KeyStore
    from paystream.stores.mysql import Database


def _record(row: Any, key_hash: str) -> KeyRecord:
    return KeyRecord(
        key_hash=key_hash,
        role="analyst" if row.role == "analyst" else "merchant",
        merchant_id=row.merchant_id,
        customer_id=row.customer_id,
        rate_per_s=row.rate_per_s,
        burst=row.burst,
        created_at=row.created_at.replace(tzinfo=UTC),
    )


class KeyLedger:
    """Reads key records from ``reader`` (the replica); writes them to ``writer`` (primary)."""

    def __init__(self, reader: Engine, writer: Engine | None = None) -> None:
        self.reader = reader
        self.writer = writer

    def get(self, key_id: str) -> KeyRecord | None:
        """The live record of ``key_id``; None when unknown or revoked.

        Raises:
            ServiceUnavailableError: the database did not answer.
        """
        table = ApiKey.__table__
        try:
            with self.reader.connect() as conn:
                row = conn.execute(select(table).where(table.c.key_id == key_id)).first()
        except DBAPIError as exc:
            raise ServiceUnavailableError(
                "MySQL replica", "mysql.replica_url", f"API key lookup: {type(exc).__name__}"
            ) from exc
        if row is None or row.revoked_at is not None:
            return None
        return _record(row, row.key_hash)

    def insert(self, key_id: str, record: KeyRecord) -> None:
        """Store a new key's record."""
        with self._writer().begin() as conn:
            conn.execute(
                insert(ApiKey).values(
                    key_id=key_id,
                    key_hash=record.key_hash,
                    role=record.role,
                    merchant_id=record.merchant_id,
                    customer_id=record.customer_id,
                    rate_per_s=record.rate_per_s,
                    burst=record.burst,
                    created_at=record.created_at.astimezone(UTC).replace(tzinfo=None),
                )
            )

    def revoke(self, key_id: str) -> bool:
        """Mark a key revoked; True if it was live."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._writer().begin() as conn:
            result = conn.execute(
                update(ApiKey)
                .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    def listing(self) -> list[tuple[str, KeyRecord, datetime | None]]:
        """Every key (revoked ones too) with its record and revocation time."""
        table = ApiKey.__table__
        with self._writer().connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.created_at)).all()
        # Listings never carry the hash.
        return [(r.key_id, _record(r, ""), r.revoked_at) for r in rows]

    def _writer(self) -> Engine:
        if self.writer is None:
            raise RuntimeError("this key ledger is read-only (the API reads the replica)")
        return self.writer


def admin_store(settings: Settings, redis: Redis[Any]) -> tuple[KeyStore, Database]:
    """A key store that may create and revoke keys (CLI, demo, tests): it reads and writes
    the primary, after bringing the ledger schema up to date. Dispose the database after."""
    from api.auth import KeyStore
    from paystream.ledger.migrate import upgrade
    from paystream.stores.mysql import Database

    upgrade(settings.mysql)
    database = Database(settings.mysql)
    ledger = KeyLedger(database.writer, database.writer)
    pepper = settings.api.require_secrets()[1]
    return KeyStore(redis, settings.streams.namespace, pepper, ledger), database
