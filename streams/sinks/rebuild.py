"""Rebuilding a projection (Redis, the graph) from the ledger after its store lost data.

Redis runs without persistence and a local TinkerGraph lives in memory; the ledger is the
system of record. A rebuild re-derives contract events from ledger rows and feeds them, with
a snapshot of every total, through the projection's own write path, so the result is exactly
what the stream would have written:

* Redis: profiles (``customers``, ``merchants``), totals (``balances``), risk windows (payments
  authorized in the 24 hours before the newest one), sessions that have not ended, and the
  graph-feature cache: every customer's first use of each device and card, and fraud flags;
* graph: the same parties, every order with its lines (BOUGHT), every payment's device and
  card (USED), every session's device, fraud flags, and PAID from ``pair_totals``.

:class:`SelfHealing` wraps a projection in the stream pipeline: a marker records that the
namespace was built; when it is missing (the store restarted empty) the next batch first
rebuilds, then applies as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from prometheus_client import Counter
from sqlalchemy import Connection, text

from paystream.contracts import Event
from paystream.contracts.events import (
    CustomerRegistered,
    MerchantRegistered,
    OrderLine,
    OrderPlaced,
    PaymentAuthorized,
    RefundIssued,
    RefundReason,
    SessionStarted,
    event_id_for,
)
from paystream.ledger.totals import Totals
from paystream.money import Money
from paystream.settings import Settings
from paystream.stores.mysql import Database
from streams.sinks.port import Envelope, LedgerSnapshot, PairTotals, Projection

log = logging.getLogger(__name__)
REBUILDS = Counter(
    "paystream_projection_rebuilds_total", "Projection rebuilds from the ledger", ["projection"]
)
CHUNK = 2000
SOURCE = "ledger-rebuild"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _rows(conn: Connection, sql: str, **params: Any) -> Iterator[dict[str, Any]]:
    for row in conn.execute(text(sql), params).mappings():
        yield dict(row)


def ledger_events(
    conn: Connection, session_ttl_s: int, full_history: bool = False
) -> Iterator[Event]:
    """Contract events re-derived from the ledger.

    Without ``full_history`` only what Redis keeps: recent payments and live sessions. With it
    (for the graph) every payment, order and session.
    """
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
        since = datetime(1970, 1, 1) if full_history else newest - timedelta(hours=24)
        for r in _rows(conn, "SELECT * FROM payments WHERE authorized_at > :since", since=since):
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
        since = datetime(1970, 1, 1) if full_history else latest - timedelta(seconds=session_ttl_s)
        # Redis keeps only live sessions; the graph wants every session's device.
        sql = (
            "SELECT * FROM sessions WHERE started_at > :since"
            if full_history
            else "SELECT * FROM sessions WHERE ended_at IS NULL AND started_at > :since"
        )
        for r in _rows(conn, sql, since=since):
            yield SessionStarted(
                event_id=event_id_for(SOURCE, "session", r["session_id"]),
                occurred_at=_utc(r["started_at"]) or epoch,
                session_id=r["session_id"],
                customer_id=r["customer_id"],
                device_id=r["device_id"] or "unknown",
                ip_country=r["ip_country"] or "Unknown",
                channel=r["channel"] or "web",
            )


def ledger_fraud_flags(conn: Connection) -> Iterator[Event]:
    """Every fraud chargeback, as the refund events that flag their customers."""
    sql = "SELECT * FROM refunds WHERE reason = :reason"
    for r in _rows(conn, sql, reason=str(RefundReason.FRAUD_CHARGEBACK)):
        yield RefundIssued(
            event_id=event_id_for(SOURCE, "refund", r["refund_id"]),
            occurred_at=_utc(r["issued_at"]) or datetime(1970, 1, 1, tzinfo=UTC),
            refund_id=r["refund_id"],
            payment_id=r["payment_id"],
            customer_id=r["customer_id"],
            merchant_id=r["merchant_id"],
            amount=Money(amount_minor=r["amount_minor"], currency=r["currency"]),
            reason=RefundReason.FRAUD_CHARGEBACK,
        )


#: A customer's first use of a device or card: (customer, "device" | "card", id, when).
Link = tuple[str, str, str, datetime]


def ledger_links(conn: Connection) -> Iterator[Link]:
    """Every customer's first use of each device and card, from payments and sessions."""
    queries = (
        (
            "device",
            "SELECT customer_id, device_id AS entity, MIN(started_at) AS at FROM sessions"
            " WHERE device_id IS NOT NULL GROUP BY customer_id, device_id",
        ),
        (
            "device",
            "SELECT customer_id, device_id AS entity, MIN(authorized_at) AS at FROM"
            " payments WHERE device_id IS NOT NULL GROUP BY customer_id, device_id",
        ),
        (
            "card",
            "SELECT customer_id, card_fingerprint AS entity, MIN(authorized_at) AS at FROM"
            " payments WHERE card_fingerprint IS NOT NULL GROUP BY customer_id, card_fingerprint",
        ),
    )
    for kind, sql in queries:
        for r in _rows(conn, sql):
            yield (
                r["customer_id"],
                kind,
                r["entity"],
                _utc(r["at"]) or datetime(1970, 1, 1, tzinfo=UTC),
            )


@runtime_checkable
class LinkRebuildable(Protocol):
    """A projection that keeps the graph-feature cache and takes its links in bulk."""

    def apply_links(self, links: Sequence[Link]) -> None:
        """Write first uses (idempotent: the earliest time wins)."""


def ledger_orders(conn: Connection) -> Iterator[Event]:
    """Every order with its lines, re-derived from the ledger (for the graph's BOUGHT)."""
    lines: dict[str, list[OrderLine]] = {}
    for r in _rows(conn, "SELECT * FROM order_lines ORDER BY order_id, line_no"):
        lines.setdefault(r["order_id"], []).append(
            OrderLine(
                line_no=r["line_no"],
                sku=r["sku"],
                description=r["description"],
                quantity=r["quantity"],
                unit_price_minor=r["unit_price_minor"],
            )
        )
    for r in _rows(conn, "SELECT * FROM orders"):
        if r["order_id"] not in lines:
            continue
        yield OrderPlaced(
            event_id=event_id_for(SOURCE, "order", r["order_id"]),
            occurred_at=_utc(r["placed_at"]) or datetime(1970, 1, 1, tzinfo=UTC),
            order_id=r["order_id"],
            customer_id=r["customer_id"],
            merchant_id=r["merchant_id"],
            lines=lines[r["order_id"]],
            total=Money(amount_minor=r["total_minor"], currency=r["currency"]),
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
    for r in _rows(conn, "SELECT * FROM pair_totals"):
        snapshot.pairs[(r["customer_id"], r["merchant_id"], r["currency"])] = PairTotals(
            r["payment_count"], r["amount_minor"]
        )
    return snapshot


class Rebuildable(Projection, Protocol):
    """A projection that can tell whether its store holds a full build, and mark one."""

    def is_built(self) -> bool:
        """False when the store lost the namespace or never had it."""

    def mark_built(self) -> None:
        """Record a complete build."""


def rebuild(
    database: Database, projection: Rebuildable, session_ttl_s: int, full_history: bool
) -> int:
    """Rewrite a projection's namespace from the ledger (primary); return records replayed."""
    count = 0
    with database.writer.connect() as conn:
        batch: list[Envelope] = []
        sources = [ledger_events(conn, session_ttl_s, full_history), ledger_fraud_flags(conn)]
        if full_history:
            sources.append(ledger_orders(conn))
        elif isinstance(projection, LinkRebuildable):
            # Redis keeps recent payments only, but graph features need every first use.
            links: list[Link] = []
            for link in ledger_links(conn):
                links.append(link)
                count += 1
                if len(links) >= CHUNK:
                    projection.apply_links(links)
                    links = []
            projection.apply_links(links)
        for source in sources:
            for event in source:
                batch.append(Envelope(event, SOURCE, 0, count))
                count += 1
                if len(batch) >= CHUNK:
                    projection.apply(batch, LedgerSnapshot())
                    batch = []
        projection.apply(batch, ledger_totals(conn))
    projection.mark_built()
    REBUILDS.labels(projection.name).inc()
    return count


class SelfHealing:
    """A projection that rebuilds itself from the ledger whenever its store lost the data."""

    def __init__(
        self,
        projection: Rebuildable,
        database: Database,
        session_ttl_s: int,
        full_history: bool,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.database = database
        self.session_ttl_s = session_ttl_s
        self.full_history = full_history

    def apply(self, batch: Sequence[Envelope], snapshot: LedgerSnapshot) -> None:
        """Rebuild first if the namespace's marker is gone, then apply the batch."""
        if not self.projection.is_built():
            log.warning(
                "%s holds no build of this namespace: rebuilding from the ledger", self.name
            )
            replayed = rebuild(
                self.database, self.projection, self.session_ttl_s, self.full_history
            )
            log.warning("%s rebuilt from the ledger (%d records)", self.name, replayed)
        self.projection.apply(batch, snapshot)

    def close(self) -> None:
        """Close the wrapped projection and the ledger connections kept for rebuilds."""
        self.projection.close()
        self.database.dispose()


def rebuild_namespace(settings: Settings) -> int:
    """Rewrite the Redis projection of ``settings.streams.namespace`` from the ledger's
    primary (recent sessions and windows, not the full history); returns the records read."""
    from streams.sinks.redis_state import RedisStateSink

    database = Database(settings.mysql)
    sink = RedisStateSink(settings.redis, namespace=settings.streams.namespace)
    try:
        return rebuild(database, sink, settings.redis.session_ttl_s, full_history=False)
    finally:
        sink.close()
        database.dispose()
