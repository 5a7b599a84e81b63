"""Rebuilding the Redis projection from the ledger, after Redis lost its data.

Redis runs without persistence; the ledger is the system of record. The rebuild re-derives
everything the Redis sink holds from ledger rows and feeds it through the sink's own write
path, so the keys come out exactly as the stream would have written them:

* customer and merchant profiles from ``customers`` / ``merchants``;
* running totals from ``balances`` (absolute values, as always);
* risk windows from the payments authorized in the 24 hours before the newest one;
* sessions that have not ended, started within the session TTL of the newest session.

:class:`SelfHealingRedis` wraps the sink in the stream pipeline: a marker key records that the
namespace was built; when it is missing (Redis restarted, or a fresh Redis under an existing
ledger) the next batch first rebuilds, then applies as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, text

from paystream.contracts import Event
from paystream.contracts.events import (
    CustomerRegistered,
    MerchantRegistered,
    PaymentAuthorized,
    SessionStarted,
    event_id_for,
)
from paystream.money import Money
from paystream.stores.mysql import Database
from streams.sinks.port import Envelope, LedgerSnapshot, Totals
from streams.sinks.redis_state import RedisStateSink

log = logging.getLogger(__name__)
REBUILDS = Counter("paystream_redis_rebuilds_total", "Redis projection rebuilds from the ledger")
CHUNK = 2000
SOURCE = "ledger-rebuild"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _rows(conn: Connection, sql: str, **params: Any) -> Iterator[dict[str, Any]]:
    for row in conn.execute(text(sql), params).mappings():
        yield dict(row)


def ledger_events(conn: Connection, session_ttl_s: int) -> Iterator[Event]:
    """Contract events re-derived from the ledger, for everything Redis keeps."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for r in _rows(conn, "SELECT * FROM customers"):
        yield CustomerRegistered(
            event_id=event_id_for(SOURCE, "customer", r["customer_id"]),
            occurred_at=_utc(r["registered_at"]) or epoch,
            customer_id=r["customer_id"],
            country=r["country"],
            email_sha256=r["email_sha256"],
            guest=bool(r["guest"]),
        )
    for r in _rows(conn, "SELECT * FROM merchants"):
        yield MerchantRegistered(
            event_id=event_id_for(SOURCE, "merchant", r["merchant_id"]),
            occurred_at=_utc(r["registered_at"]) or epoch,
            merchant_id=r["merchant_id"],
            name=r["name"],
            category=r["category"],
            country=r["country"],
            settlement_currency=r["settlement_currency"],
        )
    newest = conn.execute(text("SELECT MAX(authorized_at) FROM payments")).scalar()
    if newest is not None:
        for r in _rows(
            conn,
            "SELECT * FROM payments WHERE authorized_at > :since",
            since=newest - timedelta(hours=24),
        ):
            yield PaymentAuthorized(
                event_id=event_id_for(SOURCE, "payment", r["payment_id"]),
                occurred_at=_utc(r["authorized_at"]) or epoch,
                payment_id=r["payment_id"],
                customer_id=r["customer_id"],
                merchant_id=r["merchant_id"],
                amount=Money(amount_minor=r["amount_minor"], currency=r["currency"]),
                card_fingerprint=r["card_fingerprint"],
                device_id=r["device_id"],
            )
    latest = conn.execute(text("SELECT MAX(started_at) FROM sessions")).scalar()
    if latest is not None:
        for r in _rows(
            conn,
            "SELECT * FROM sessions WHERE ended_at IS NULL AND started_at > :since",
            since=latest - timedelta(seconds=session_ttl_s),
        ):
            yield SessionStarted(
                event_id=event_id_for(SOURCE, "session", r["session_id"]),
                occurred_at=_utc(r["started_at"]) or epoch,
                session_id=r["session_id"],
                customer_id=r["customer_id"],
                device_id=r["device_id"] or "unknown",
                ip_country=r["ip_country"] or "Unknown",
                channel=r["channel"] or "web",
            )


def ledger_totals(conn: Connection) -> LedgerSnapshot:
    """Every balance in the ledger, as a snapshot the sink copies."""
    snapshot = LedgerSnapshot()
    for r in _rows(conn, "SELECT * FROM balances"):
        totals = Totals(
            r["captured_minor"], r["captured_count"], r["refunded_minor"], r["refund_count"]
        )
        target = snapshot.merchants if r["owner_kind"] == "merchant" else snapshot.customers
        target[(r["owner_id"], r["currency"])] = totals
    return snapshot


def rebuild_redis(database: Database, sink: RedisStateSink, session_ttl_s: int) -> int:
    """Rewrite the sink's namespace from the ledger (primary); return the events replayed."""
    count = 0
    with database.writer.connect() as conn:
        batch: list[Envelope] = []
        for event in ledger_events(conn, session_ttl_s):
            batch.append(Envelope(event, SOURCE, 0, count))
            count += 1
            if len(batch) >= CHUNK:
                sink.apply(batch, LedgerSnapshot())
                batch = []
        sink.apply(batch, ledger_totals(conn))
    sink.mark_built()
    REBUILDS.inc()
    return count


class SelfHealingRedis:
    """The Redis projection, rebuilt from the ledger whenever Redis has lost it."""

    name = "redis"

    def __init__(self, sink: RedisStateSink, database: Database, session_ttl_s: int) -> None:
        self.sink = sink
        self.database = database
        self.session_ttl_s = session_ttl_s

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Rebuild first if the namespace's marker is gone, then apply the batch."""
        if not self.sink.is_built():
            log.warning("Redis has no built marker for this namespace: rebuilding from the ledger")
            replayed = rebuild_redis(self.database, self.sink, self.session_ttl_s)
            log.warning("Redis rebuilt from the ledger (%d records)", replayed)
        self.sink.apply(batch, snapshot)

    def close(self) -> None:
        """Close the wrapped sink."""
        self.sink.close()
