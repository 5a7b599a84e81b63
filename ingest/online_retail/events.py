"""Turns the UCI Online Retail file into paystream events.

An invoice is one order; its lines are the items, its total is the payment (authorized,
then captured), and a ``C`` invoice is a refund. Amounts are parsed from text into integer
pence, never through floats. Lines that are not sales of a product (postage, fees, manual
adjustments, zero or sub-penny prices, stock corrections) are *routed*: they are published to
the dead-letter topic with a reason and counted, so every line of the file is accounted for.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.events import (
    CustomerRegistered,
    Event,
    MerchantRegistered,
    OrderLine,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    RefundIssued,
    RefundReason,
    event_id_for,
)
from paystream.contracts.pan import contains_pan
from paystream.datasets.online_retail import LONDON, MERCHANT_ID, SERVICE_CODES, SERVICE_PREFIXES
from paystream.money import MAX_MINOR_UNITS, Money, MoneyError, to_minor_units

SOURCE = "online_retail.csv.gz"
CURRENCY = "GBP"
HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


@dataclass(frozen=True)
class RetailLine:
    """One parsed line of the file (``line_no`` counts data lines from 1)."""

    line_no: int
    invoice: str
    stock_code: str
    description: str
    quantity: int
    invoiced_at: datetime
    unit_price: Decimal
    customer: str
    country: str

    @property
    def amount(self) -> Decimal:
        """Quantity × unit price in GBP, exact."""
        return self.quantity * self.unit_price

    @property
    def is_cancellation(self) -> bool:
        """True for lines of a ``C`` (credit note) invoice."""
        return self.invoice.startswith("C")


@dataclass
class Routed:
    """A line deliberately not turned into a sale, with its reason."""

    line_no: int
    reason: str
    raw: bytes
    quantity: int = 0
    amount: Decimal = Decimal(0)

    def dead_letter(self) -> DeadLetter:
        """The dead-letter record for this line."""
        return DeadLetter(
            reason=self.reason,
            detail=f"online retail line {self.line_no} routed: {self.reason}",
            source=SOURCE,
            offset=self.line_no,
            original=self.raw,
        )


@dataclass
class ReplaySummary:
    """Every line accounted for, with the file's checksums."""

    lines: int = 0
    lines_in_orders: int = 0
    lines_in_refunds: int = 0
    routed: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    guest_lines: int = 0
    quantity_total: int = 0
    amount_total: Decimal = Decimal(0)
    ordered_minor: int = 0
    refunded_minor: int = 0
    routed_amount: Decimal = Decimal(0)
    routed_quantity: int = 0
    ordered_quantity: int = 0
    refunded_quantity: int = 0

    @property
    def lines_routed(self) -> int:
        """Lines sent to the dead-letter topic."""
        return sum(self.routed.values())

    @property
    def accounted(self) -> bool:
        """True when every line, unit and penny is either in an event or routed."""
        sent_amount = Decimal(self.ordered_minor - self.refunded_minor).scaleb(-2)
        return (
            self.lines == self.lines_in_orders + self.lines_in_refunds + self.lines_routed
            and self.quantity_total
            == self.ordered_quantity - self.refunded_quantity + self.routed_quantity
            and self.amount_total == sent_amount + self.routed_amount
        )


# What the event contracts accept (paystream.contracts.events.Identifier and friends): a line
# that would break them is routed here, so that one bad row never stops the replay.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,60}$")
_MAX_QUANTITY = 1_000_000
_MAX_COUNTRY = 64


def _field_reason(line: RetailLine) -> str | None:
    if not _IDENTIFIER.match(line.stock_code.replace(" ", "_")):
        return "invalid_sku"
    if not _IDENTIFIER.match(line.invoice) or (
        line.customer and not _IDENTIFIER.match(line.customer)
    ):
        return "invalid_identifier"
    if abs(line.quantity) > _MAX_QUANTITY:
        return "quantity_out_of_range"
    if len(line.country) > _MAX_COUNTRY:
        return "country_too_long"
    if any(contains_pan(text) for text in (line.description, line.customer, line.stock_code)):
        # Never produced, and the routed copy is masked (paystream.contracts.pan).
        return "card_number"
    return None


def _routing_reason(line: RetailLine) -> str | None:
    field_reason = _field_reason(line)
    if field_reason is not None:
        return field_reason
    if line.unit_price < 0:
        return "negative_price"
    if line.unit_price == 0:
        return "zero_price"
    if line.stock_code in SERVICE_CODES or line.stock_code.startswith(SERVICE_PREFIXES):
        return "non_product_code"
    if line.is_cancellation and line.quantity > 0:
        return "positive_quantity_on_credit_note"
    if not line.is_cancellation and line.quantity <= 0:
        return "negative_quantity"
    try:
        unit_minor = to_minor_units(line.unit_price, CURRENCY)
    except MoneyError:
        return "sub_penny_price"
    if unit_minor * abs(line.quantity) > MAX_MINOR_UNITS:
        return "amount_out_of_range"
    return None


@lru_cache(maxsize=65536)
def _utc(local_text: str) -> datetime:
    # ~23,000 distinct timestamps across 541,909 lines: caching makes parsing cheap.
    return datetime.fromisoformat(local_text).replace(tzinfo=LONDON).astimezone(UTC)


def _parse(line_no: int, row: list[str]) -> RetailLine:
    invoice, code, description, quantity, invoiced_at, price, customer, country = row
    return RetailLine(
        line_no=line_no,
        invoice=invoice.strip(),
        stock_code=code.strip(),
        description=description.strip(),
        quantity=int(quantity),
        invoiced_at=_utc(invoiced_at),
        unit_price=Decimal(price),
        customer=customer.strip(),
        country=country.strip(),
    )


_SURROGATE = re.compile("[\udc80-\udcff]")


def _raw(row: list[str]) -> bytes:
    return ",".join(row).encode("utf-8", errors="surrogateescape")


def read_invoices(
    path: Path, summary: ReplaySummary, limit: int | None = None
) -> tuple[dict[str, list[RetailLine]], list[Routed]]:
    """Read the file, grouping product lines by invoice and routing the others.

    Invoices are grouped over the whole file (one invoice appears in two separate runs), so
    that an invoice always becomes exactly one order.
    """
    invoices: dict[str, list[RetailLine]] = defaultdict(list)
    routed: list[Routed] = []
    opener = gzip.open if path.suffix == ".gz" else open
    # Bytes that are not UTF-8 become lone surrogates instead of stopping the read; the row
    # holding them is routed as invalid_utf8 with its original bytes.
    with opener(path, "rt", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        if next(reader, None) != HEADER:
            raise ValueError(f"{path} does not start with the Online Retail header {HEADER}")
        for line_no, row in enumerate(reader, start=1):
            if limit is not None and line_no > limit:
                break
            summary.lines += 1
            if any(_SURROGATE.search(cell) for cell in row):
                routed.append(Routed(line_no, "invalid_utf8", _raw(row)))
                continue
            try:
                line = _parse(line_no, row)
            except (ValueError, InvalidOperation):
                routed.append(Routed(line_no, "unparseable", _raw(row)))
                continue
            summary.quantity_total += line.quantity
            summary.amount_total += line.amount
            if not line.customer:
                summary.guest_lines += 1
            reason = _routing_reason(line)
            if reason is not None:
                routed.append(Routed(line_no, reason, _raw(row), line.quantity, line.amount))
                continue
            invoices[line.invoice].append(line)
    for item in routed:
        summary.routed[item.reason] += 1
        summary.routed_quantity += item.quantity
        summary.routed_amount += item.amount
    return invoices, routed


def customer_id(line: RetailLine) -> str:
    """Customer key: the file's CustomerID, or a per-invoice guest id for guest checkouts."""
    return f"cust-{line.customer}" if line.customer else f"guest-{line.invoice}"


def _order_lines(lines: list[RetailLine]) -> list[OrderLine]:
    return [
        OrderLine(
            line_no=i,
            sku=line.stock_code.replace(" ", "_"),
            description=line.description[:256],
            quantity=abs(line.quantity),
            unit_price_minor=to_minor_units(line.unit_price, CURRENCY),
        )
        for i, line in enumerate(lines, start=1)
    ]


def merchant_event(first_seen: datetime) -> MerchantRegistered:
    """The one merchant of the data set: the retailer itself."""
    return MerchantRegistered(
        event_id=event_id_for("online-retail", "merchant", MERCHANT_ID),
        occurred_at=first_seen,
        merchant_id=MERCHANT_ID,
        name="UK online gift-ware retailer",
        category="ecommerce",
        country="United Kingdom",
        settlement_currency=CURRENCY,
    )


def invoice_events(
    invoice: str, lines: list[RetailLine], known_customers: set[str]
) -> Iterator[Event]:
    """Events for one invoice: registration on first sight, then order + payment or refund."""
    first = lines[0]
    at = min(line.invoiced_at for line in lines)
    customer = customer_id(first)
    if customer not in known_customers:
        known_customers.add(customer)
        yield CustomerRegistered(
            event_id=event_id_for("online-retail", "customer", customer),
            occurred_at=at,
            customer_id=customer,
            country=first.country or "Unspecified",
            guest=not first.customer,
        )
    items = _order_lines(lines)
    total = Money(amount_minor=sum(i.amount_minor for i in items), currency=CURRENCY)
    if first.is_cancellation:
        yield RefundIssued(
            event_id=event_id_for("online-retail", "refund", invoice),
            occurred_at=at,
            refund_id=f"ref-{invoice}",
            customer_id=customer,
            merchant_id=MERCHANT_ID,
            amount=total,
            reason=RefundReason.CANCELLATION,
            lines=items,
        )
        return
    payment_id = f"pay-{invoice}"
    common = {"customer_id": customer, "merchant_id": MERCHANT_ID}
    yield OrderPlaced(
        event_id=event_id_for("online-retail", "order", invoice),
        occurred_at=at,
        order_id=f"ord-{invoice}",
        lines=items,
        total=total,
        **common,
    )
    yield PaymentAuthorized(
        event_id=event_id_for("online-retail", "authorized", invoice),
        occurred_at=at,
        payment_id=payment_id,
        order_id=f"ord-{invoice}",
        amount=total,
        ip_country=first.country or None,
        # A stable pseudonymous card per customer: the data set has no cards at all.
        card_fingerprint=hashlib.sha256(customer.encode()).hexdigest()[:32],
        **common,
    )
    yield PaymentCaptured(
        event_id=event_id_for("online-retail", "captured", invoice),
        occurred_at=at,
        payment_id=payment_id,
        amount=total,
        **common,
    )


def replay_events(
    path: Path, summary: ReplaySummary, limit: int | None = None
) -> tuple[int, Iterator[Event], list[Routed]]:
    """Parse the file; return the number of events, a lazy event iterator and the routed lines."""
    invoices, routed = read_invoices(path, summary, limit)
    customers = {customer_id(lines[0]) for lines in invoices.values()}
    refunds = sum(1 for lines in invoices.values() if lines[0].is_cancellation)
    expected = (1 if invoices else 0) + len(customers) + refunds + 3 * (len(invoices) - refunds)

    def events() -> Iterator[Event]:
        known: set[str] = set()
        if invoices:
            first_seen = min(lines[0].invoiced_at for lines in invoices.values())
            merchant = merchant_event(first_seen)
            summary.events[merchant.event_type] += 1
            yield merchant
        for invoice, lines in invoices.items():
            if lines[0].is_cancellation:
                summary.lines_in_refunds += len(lines)
                summary.refunded_quantity += sum(abs(line.quantity) for line in lines)
            else:
                summary.lines_in_orders += len(lines)
                summary.ordered_quantity += sum(line.quantity for line in lines)
            for event in invoice_events(invoice, lines, known):
                if isinstance(event, OrderPlaced):
                    summary.ordered_minor += event.total.amount_minor
                elif isinstance(event, RefundIssued):
                    summary.refunded_minor += event.amount.amount_minor
                summary.events[event.event_type] += 1
                yield event

    return expected, events(), routed
