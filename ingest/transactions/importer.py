"""``paystream import transactions``: a foreign labelled history as paystream events.

Each good row becomes the events a live system would have produced for it, in event time:

* the customer's and the merchant's ``registered`` events, the first time each appears;
* ``payment.authorized`` at the row's time, then ``payment.captured`` a second later;
* for a row labelled fraud, ``refund.issued`` with reason ``fraud_chargeback``, dated the
  chargeback delay after the payment. That is how a label reaches a real system: days late,
  as a chargeback, so the risk agent can only learn of it when it would have in reality.

Every event id is derived from the source row's identity (:func:`event_id_for`), so importing
the same file twice produces the same events and the idempotent sinks count them once. Rows
are sorted by time before anything is sent, and chargebacks wait in a heap until the stream
reaches their date, so the topics carry one event-time order, as if the history were live.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from rich.progress import Progress

from ingest.publish import Pacer
from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.events import (
    CustomerRegistered,
    Event,
    MerchantRegistered,
    PaymentAuthorized,
    PaymentCaptured,
    RefundIssued,
    RefundReason,
    event_id_for,
)
from paystream.datasets.transactions import (
    BadRow,
    ColumnMapping,
    RowReader,
    Transaction,
    file_rows,
    load_mapping,
    read_transactions,
)
from paystream.errors import ConfigurationError
from paystream.money import Money
from paystream.settings import KafkaSettings, Settings

SOURCE = "import"
#: Country of a customer or merchant whose file has no country column.
UNKNOWN_COUNTRY = "unknown"
CAPTURE_AFTER = timedelta(seconds=1)


@dataclass
class ImportSummary:
    """Every row accounted for: read, in range, sent, or routed with a reason."""

    rows: int = 0
    out_of_range: int = 0
    transactions: int = 0
    fraud: int = 0
    duplicates: int = 0
    routed: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0

    @property
    def accounted(self) -> bool:
        """Every row read is sent, out of range, or routed."""
        routed = sum(self.routed.values())
        return self.rows == self.transactions + self.out_of_range + routed

    @property
    def rows_per_s(self) -> float:
        """Rows read per second of the whole import, file to broker."""
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ImportPlan:
    """What to import: the mapping, the time range and the chargeback delay."""

    mapping: ColumnMapping
    since: datetime | None = None
    until: datetime | None = None
    chargeback_delay: timedelta = timedelta(days=7)

    def in_range(self, at: datetime) -> bool:
        """Whether a transaction at ``at`` is selected (``since`` inclusive, ``until`` not)."""
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


def select(
    items: Iterable[Transaction | BadRow],
    plan: ImportPlan,
    summary: ImportSummary,
    on_row: Callable[[], None] | None = None,
) -> tuple[list[Transaction], list[BadRow]]:
    """The selected transactions in time order, and the routed rows (duplicates included)."""
    kept: dict[str, Transaction] = {}
    bad: list[BadRow] = []
    for item in items:
        summary.rows += 1
        if on_row is not None:
            on_row()
        if isinstance(item, BadRow):
            summary.routed[item.reason] += 1
            bad.append(item)
        elif not plan.in_range(item.at):
            summary.out_of_range += 1
        elif item.transaction_id in kept:
            # A second row with the same id would be a second payment with the first's
            # event ids: the sinks would drop it silently, so it is routed, visibly.
            summary.routed["duplicate_transaction_id"] += 1
            summary.duplicates += 1
            bad.append(BadRow(item.row, "duplicate_transaction_id", item.transaction_id, b""))
        else:
            kept[item.transaction_id] = item
    ordered = sorted(kept.values(), key=lambda t: (t.at, t.transaction_id))
    return ordered, bad


def _registrations(t: Transaction, mapping: ColumnMapping, seen: set[str]) -> Iterator[Event]:
    country = t.country or UNKNOWN_COUNTRY
    if "c|" + t.customer_id not in seen:
        seen.add("c|" + t.customer_id)
        yield CustomerRegistered(
            event_id=event_id_for(SOURCE, "customer", t.customer_id),
            occurred_at=t.at,
            customer_id=t.customer_id,
            country=country,
        )
    if "m|" + t.merchant_id not in seen:
        seen.add("m|" + t.merchant_id)
        yield MerchantRegistered(
            event_id=event_id_for(SOURCE, "merchant", t.merchant_id),
            occurred_at=t.at,
            merchant_id=t.merchant_id,
            name=t.merchant_id,
            category=mapping.merchant_category,
            country=country,
            settlement_currency=t.currency,
        )


def _payment(t: Transaction) -> tuple[PaymentAuthorized, PaymentCaptured]:
    money = Money(amount_minor=t.amount_minor, currency=t.currency)
    parties = {"payment_id": t.transaction_id, "customer_id": t.customer_id}
    parties["merchant_id"] = t.merchant_id
    authorized = PaymentAuthorized(
        event_id=event_id_for(SOURCE, "authorized", t.transaction_id),
        occurred_at=t.at,
        amount=money,
        card_fingerprint=t.card_fingerprint,
        device_id=t.device_id,
        ip_country=t.country,
        **parties,
    )
    captured = PaymentCaptured(
        event_id=event_id_for(SOURCE, "captured", t.transaction_id),
        occurred_at=t.at + CAPTURE_AFTER,
        amount=money,
        **parties,
    )
    return authorized, captured


def _chargeback(t: Transaction, delay: timedelta) -> RefundIssued:
    return RefundIssued(
        event_id=event_id_for(SOURCE, "chargeback", t.transaction_id),
        occurred_at=t.at + CAPTURE_AFTER + delay,
        refund_id=f"{t.transaction_id}.cb"[-64:],
        payment_id=t.transaction_id,
        customer_id=t.customer_id,
        merchant_id=t.merchant_id,
        amount=Money(amount_minor=t.amount_minor, currency=t.currency),
        reason=RefundReason.FRAUD_CHARGEBACK,
    )


def to_events(
    transactions: Iterable[Transaction], plan: ImportPlan, summary: ImportSummary
) -> Iterator[Event]:
    """The events of time-ordered transactions, chargebacks released at their own date."""
    seen: set[str] = set()
    pending: list[tuple[datetime, str, RefundIssued]] = []
    for t in transactions:
        while pending and pending[0][0] <= t.at:
            yield heapq.heappop(pending)[2]
        yield from _registrations(t, plan.mapping, seen)
        authorized, captured = _payment(t)
        yield authorized
        yield captured
        summary.transactions += 1
        summary.first = summary.first or t.at
        summary.last = t.at
        if t.fraud:
            summary.fraud += 1
            refund = _chargeback(t, plan.chargeback_delay)
            heapq.heappush(pending, (refund.occurred_at, refund.refund_id, refund))
    while pending:
        yield heapq.heappop(pending)[2]


def dead_letter(bad: BadRow, path_name: str) -> DeadLetter:
    """The dead-letter record of a routed row (card numbers masked by ``capped``)."""
    return DeadLetter.capped(
        reason=bad.reason,
        detail=f"{path_name} row {bad.row} routed: {bad.detail}",
        source=f"{SOURCE}:{path_name}"[:200],
        offset=bad.row,
        original=bad.raw,
    )


async def run_import(
    settings: KafkaSettings,
    path: Path,
    plan: ImportPlan,
    card_key: bytes | None,
    *,
    rate: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Read, select, convert and (unless ``dry_run``) publish ``path``; the summary says
    what happened to every row. The clock covers the whole import, file to broker."""
    started = time.perf_counter()
    summary = ImportSummary()
    rows = file_rows(path, plan.mapping)
    if limit is not None:
        rows = islice(rows, limit)
    items = read_transactions(rows, RowReader(plan.mapping, card_key))
    reading = progress.add_task("reading", total=None) if progress else None

    def on_row() -> None:
        if progress is not None and reading is not None and summary.rows % 1000 == 0:
            progress.update(reading, completed=summary.rows)

    transactions, bad = select(items, plan, summary, on_row)
    if progress is not None and reading is not None:
        progress.update(reading, completed=summary.rows, total=summary.rows)
    events = to_events(transactions, plan, summary)
    if dry_run:
        for event in events:
            summary.events[event.event_type] += 1
        summary.seconds = time.perf_counter() - started
        return summary

    from paystream.bus.kafka import KafkaPublisher, ensure_topics
    from paystream.bus.port import Message

    await ensure_topics(settings)
    sending = progress.add_task("sending", total=len(transactions)) if progress else None
    pacer = Pacer(rate)
    async with KafkaPublisher(settings) as publisher:
        dlq = settings.topic("dlq")
        for item in bad:
            letter = dead_letter(item, path.name)
            await publisher.send(Message(dlq, letter.key(), letter.to_bytes()))
        for n, event in enumerate(events):
            await pacer.wait(n)
            await publisher.publish(event)
            summary.events[event.event_type] += 1
            if progress is not None and sending is not None and n % 500 == 0:
                progress.update(sending, completed=summary.transactions)
        await publisher.flush()
    if progress is not None and sending is not None:
        progress.update(sending, completed=summary.transactions)
    summary.seconds = time.perf_counter() - started
    return summary


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time given as ``option``, in UTC (a naive value is UTC already).

    Raises:
        ConfigurationError: the value is not ISO 8601, naming the option.
    """
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(f"{option} {value!r} is not an ISO 8601 date or time") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def import_transactions(
    settings: Settings,
    path: Path,
    mapping: Path | None,
    columns: Mapping[str, Any],
    *,
    since: str | None = None,
    until: str | None = None,
    chargeback_delay_days: float = 7.0,
    rate: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """``paystream import transactions``: the mapping file with ``columns`` (values that are
    not ``None``) on top, the card key when the file has cards, then :func:`run_import`.

    ``since`` and ``until`` are ISO 8601 text, as given to ``--since`` and ``--until``. A
    ``progress`` display is started here, once the mapping and the options have been checked,
    so that a configuration error is one line on a clean screen.
    """
    column_mapping = load_mapping(mapping, columns)
    card_key = (
        settings.risk.require_card_key() if column_mapping.card and settings.risk.card_key else None
    )
    plan = ImportPlan(
        column_mapping,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        chargeback_delay=timedelta(days=chargeback_delay_days),
    )
    with progress if progress is not None else nullcontext():
        return asyncio.run(
            run_import(
                settings.kafka,
                path,
                plan,
                card_key,
                rate=rate,
                limit=limit,
                dry_run=dry_run,
                progress=progress,
            )
        )
