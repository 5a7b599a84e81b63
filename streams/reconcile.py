"""Reconciliation: do the ledger, Redis and the graph agree, to the minor unit?

The ledger's ``balances`` are the reference. For every merchant and customer there, the Redis
totals must hold the same captured and refunded amounts and counts, and the sum of captured
payments in ``payments`` must equal the merchants' captured balances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, cast

from sqlalchemy import text

from paystream.ledger.totals import Totals
from paystream.stores.mysql import Database

LEDGER_TABLES = (
    "processed_events",
    "customers",
    "merchants",
    "orders",
    "order_lines",
    "payments",
    "refunds",
    "bookings",
    "sessions",
    "ledger_holds",
)


class TotalsReader(Protocol):
    """Reads running totals back from a projection (Redis)."""

    def totals(self, kind: Literal["merchant", "customer"], owner_id: str) -> dict[str, Totals]:
        """Totals of one merchant or customer, by currency."""


class GraphCounter(Protocol):
    """Counts what a graph projection holds."""

    def counts(self) -> dict[str, int]:
        """Elements per label."""


@dataclass
class Reconciliation:
    """What each store holds, and where they disagree."""

    ledger_rows: dict[str, int] = field(default_factory=dict)
    ledger_money: dict[str, Totals] = field(default_factory=dict)  # merchants, by currency
    redis_money: dict[str, Totals] = field(default_factory=dict)
    payments_captured: dict[str, int] = field(default_factory=dict)
    graph_counts: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every store agrees to the minor unit."""
        return not self.mismatches


def _add(a: Totals, b: Totals) -> Totals:
    return Totals(
        a.captured_minor + b.captured_minor,
        a.captured_count + b.captured_count,
        a.refunded_minor + b.refunded_minor,
        a.refund_count + b.refund_count,
    )


def reconcile(
    database: Database, redis_totals: TotalsReader, graph: GraphCounter | None = None
) -> Reconciliation:
    """Compare the ledger with Redis (and report graph counts when a graph sink is given).

    ``redis_totals`` is a :class:`streams.sinks.redis_state.RedisStateSink` (its ``totals``
    reader); ``graph`` a :class:`streams.sinks.graph.GremlinGraphSink`.
    """
    result = Reconciliation()
    with database.writer.connect() as conn:
        for table in LEDGER_TABLES:
            result.ledger_rows[table] = int(
                conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608
            )
        balances = conn.execute(
            text(
                "SELECT owner_kind, owner_id, currency, captured_minor, captured_count, "
                "refunded_minor, refund_count FROM balances"
            )
        ).all()
        for currency, total in conn.execute(
            text(
                "SELECT currency, SUM(amount_minor) FROM payments "
                "WHERE captured_at IS NOT NULL GROUP BY currency"
            )
        ).all():
            result.payments_captured[currency] = int(total)

    reader = redis_totals.totals
    cache: dict[tuple[str, str], dict[str, Totals]] = {}
    for kind, owner, currency, *values in balances:
        ledger = Totals(*(int(v) for v in values))
        kind = cast(Literal["merchant", "customer"], kind)
        key = (kind, owner)
        if key not in cache:
            cache[key] = reader(kind, owner)
        in_redis = cache[key].get(currency, Totals())
        if in_redis != ledger:
            result.mismatches.append(
                f"{kind} {owner} {currency}: ledger {ledger} != redis {in_redis}"
            )
        if kind == "merchant":
            result.ledger_money[currency] = _add(
                result.ledger_money.get(currency, Totals()), ledger
            )
            result.redis_money[currency] = _add(
                result.redis_money.get(currency, Totals()), in_redis
            )
    for currency, captured in result.payments_captured.items():
        booked = result.ledger_money.get(currency, Totals()).captured_minor
        if booked != captured:
            result.mismatches.append(
                f"{currency}: payments captured {captured} != merchant balances {booked}"
            )
    if graph is not None:
        result.graph_counts = graph.counts()
    return result
