"""The event contracts: every event that crosses Kafka, in one module.

Every event shares the envelope (``event_id``, ``event_type``, ``schema_version``,
``occurred_at`` in UTC) and carries its business keys. Money is always :class:`Money`.
Consumers parse with :func:`parse_event`, which turns any violation into a
:class:`ContractError` naming the field and the rule.

Compatibility rule: a new ``schema_version`` may add optional fields only, so the current
consumers keep reading it (unknown fields are ignored, not rejected).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from paystream.errors import PaystreamError
from paystream.money import MAX_MINOR_UNITS, CurrencyCode, Money

# Stable namespace so that replays derive the same event ids from the same source records.
EVENT_NAMESPACE = uuid.UUID("6f1c3f0e-5b8e-4d4a-9a63-3f0a3b6f9c21")


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone (UTC)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:30-05:00 has no UTC representation.
        raise ValueError("is out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
ShortText = Annotated[str, Field(max_length=256)]
CountryName = Annotated[str, Field(min_length=1, max_length=64)]


class EventType(StrEnum):
    """Every event type on the wire."""

    CUSTOMER_REGISTERED = "customer.registered"
    MERCHANT_REGISTERED = "merchant.registered"
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    ORDER_PLACED = "order.placed"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_FAILED = "payment.failed"
    REFUND_ISSUED = "refund.issued"
    BOOKING_MADE = "booking.made"
    BOOKING_CANCELLED = "booking.cancelled"
    RISK_DECIDED = "risk.decided"


class Event(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: Logical topic the event is produced to (see ``docs/events.md``).
    topic: ClassVar[str]

    event_id: uuid.UUID
    event_type: str
    schema_version: int = Field(default=1, ge=1, le=1000)
    occurred_at: UtcDatetime

    def partition_key(self) -> str:
        """Key that keeps one customer's events in order on one partition."""
        customer = getattr(self, "customer_id", None)
        if customer:
            return str(customer)
        return str(getattr(self, "merchant_id", self.event_id))

    def to_bytes(self) -> bytes:
        """Wire form: compact JSON, UTF-8."""
        return self.model_dump_json().encode()


def event_id_for(*parts: object) -> uuid.UUID:
    """Deterministic event id from the natural identity of a source record."""
    return uuid.uuid5(EVENT_NAMESPACE, "|".join(str(p) for p in parts))


# --- parties ---------------------------------------------------------------------------


class CustomerRegistered(Event):
    """A customer joins (or is first seen by) the platform."""

    topic: ClassVar[str] = "customers"
    event_type: Literal["customer.registered"] = "customer.registered"
    customer_id: Identifier
    country: CountryName
    # A hash of the e-mail, never the address itself.
    email_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    guest: bool = False


class MerchantRegistered(Event):
    """A merchant is onboarded."""

    topic: ClassVar[str] = "customers"
    event_type: Literal["merchant.registered"] = "merchant.registered"
    merchant_id: Identifier
    name: ShortText
    category: Literal["retail", "ecommerce", "hotel", "car_rental", "food", "services"]
    country: CountryName
    settlement_currency: CurrencyCode

    def partition_key(self) -> str:
        return self.merchant_id


# --- sessions --------------------------------------------------------------------------


class SessionStarted(Event):
    """An app session begins on a device."""

    topic: ClassVar[str] = "sessions"
    event_type: Literal["session.started"] = "session.started"
    session_id: Identifier
    customer_id: Identifier
    device_id: Identifier
    ip_country: CountryName
    channel: Literal["ios", "android", "web"]


class SessionEnded(Event):
    """An app session ends."""

    topic: ClassVar[str] = "sessions"
    event_type: Literal["session.ended"] = "session.ended"
    session_id: Identifier
    customer_id: Identifier
    reason: Literal["logout", "timeout", "closed"] = "logout"


# --- orders ----------------------------------------------------------------------------


class OrderLine(BaseModel):
    """One line of an order: a product, a quantity and its unit price."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # Bounded by the ledger's INT column, so an absurd value is refused here, not by MySQL.
    line_no: int = Field(ge=1, le=2_147_483_647)
    sku: Identifier
    description: ShortText = ""
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price_minor: int = Field(ge=0, le=MAX_MINOR_UNITS)

    @property
    def amount_minor(self) -> int:
        """Quantity times unit price, in minor units."""
        return self.quantity * self.unit_price_minor


class OrderPlaced(Event):
    """An e-commerce order with its lines; its total is the sum of the lines."""

    topic: ClassVar[str] = "orders"
    event_type: Literal["order.placed"] = "order.placed"
    order_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=2000)]
    total: Money

    @model_validator(mode="after")
    def _total_is_sum_of_lines(self) -> OrderPlaced:
        expected = sum(line.amount_minor for line in self.lines)
        if expected != self.total.amount_minor:
            raise ValueError(
                f"total.amount_minor {self.total.amount_minor} != sum of lines {expected}"
            )
        return self


# --- payments --------------------------------------------------------------------------


class PaymentMethod(StrEnum):
    """How the customer paid."""

    CARD = "card"
    WALLET = "wallet"
    FPS = "fps"


class PaymentEvent(Event):
    """Fields shared by every payment event."""

    topic: ClassVar[str] = "payments"
    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    amount: Money


class PaymentAuthorized(PaymentEvent):
    """The issuer authorized an amount. Cards appear only as a fingerprint, never a PAN."""

    event_type: Literal["payment.authorized"] = "payment.authorized"
    order_id: Identifier | None = None
    booking_id: Identifier | None = None
    method: PaymentMethod = PaymentMethod.CARD
    card_fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{32,64}$")] | None = None
    device_id: Identifier | None = None
    ip_country: CountryName | None = None


class PaymentCaptured(PaymentEvent):
    """Funds captured: the payment now counts in the merchant's gross."""

    event_type: Literal["payment.captured"] = "payment.captured"


class PaymentFailed(PaymentEvent):
    """Authorization or capture failed."""

    event_type: Literal["payment.failed"] = "payment.failed"
    failure_code: Literal[
        "insufficient_funds", "card_declined", "expired_card", "risk_declined", "processing_error"
    ]


class RefundReason(StrEnum):
    """Why money went back to the customer."""

    CUSTOMER_REQUEST = "customer_request"
    CANCELLATION = "cancellation"
    FRAUD_CHARGEBACK = "fraud_chargeback"


class RefundIssued(Event):
    """Money returned to a customer: its own event, never a negative payment.

    ``payment_id`` is empty for credit notes that do not name the payment they reverse.
    """

    topic: ClassVar[str] = "payments"
    event_type: Literal["refund.issued"] = "refund.issued"
    refund_id: Identifier
    payment_id: Identifier | None = None
    customer_id: Identifier
    merchant_id: Identifier
    amount: Money
    reason: RefundReason = RefundReason.CUSTOMER_REQUEST
    lines: Annotated[list[OrderLine], Field(max_length=2000)] = []


# --- bookings --------------------------------------------------------------------------


class BookingKind(StrEnum):
    """What was booked."""

    HOTEL = "hotel"
    CAR_RENTAL = "car_rental"


class BookingMade(Event):
    """A hotel stay or a car rental is booked."""

    topic: ClassVar[str] = "bookings"
    event_type: Literal["booking.made"] = "booking.made"
    booking_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    kind: BookingKind
    start_date: date
    end_date: date
    amount: Money

    @model_validator(mode="after")
    def _dates_in_order(self) -> BookingMade:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class BookingCancelled(Event):
    """A booking is cancelled; any refund follows as its own event."""

    topic: ClassVar[str] = "bookings"
    event_type: Literal["booking.cancelled"] = "booking.cancelled"
    booking_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    kind: BookingKind
    reason: ShortText = ""


# --- risk ------------------------------------------------------------------------------


class Decision(StrEnum):
    """What the risk agent says about one authorization."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


ReasonCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Z0-9_]+$")]
FeatureName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class RiskDecided(Event):
    """The risk agent's decision on one ``payment.authorized``.

    Its ``event_id`` derives from the authorization's, so a re-scored replay carries the same
    id and every consumer keeps one decision per payment. ``features`` is the exact vector the
    decision used (``None`` where a feature was unavailable): training reads it back, so the
    model learns from what scoring saw. ``score`` is a probability-like number in [0, 1], not
    money.
    """

    topic: ClassVar[str] = "decisions"
    event_type: Literal["risk.decided"] = "risk.decided"
    authorization_event_id: uuid.UUID
    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    amount: Money
    card_fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{32,64}$")] | None = None
    decision: Decision
    score: float = Field(ge=0.0, le=1.0)
    rules_score: float = Field(ge=0.0, le=1.0)
    reasons: Annotated[list[ReasonCode], Field(max_length=32)] = []
    model_version: Annotated[str, Field(max_length=64)] | None = None
    degraded: bool = False
    features: Annotated[
        dict[FeatureName, Annotated[float, Field(allow_inf_nan=False)] | None],
        Field(max_length=128),
    ] = {}
    authorized_at: UtcDatetime


AnyEvent = Annotated[
    CustomerRegistered
    | MerchantRegistered
    | SessionStarted
    | SessionEnded
    | OrderPlaced
    | PaymentAuthorized
    | PaymentCaptured
    | PaymentFailed
    | RefundIssued
    | BookingMade
    | BookingCancelled
    | RiskDecided,
    Field(discriminator="event_type"),
]

EVENT_CLASSES: dict[str, type[Event]] = {
    cls.model_fields["event_type"].default: cls
    for cls in (
        CustomerRegistered,
        MerchantRegistered,
        SessionStarted,
        SessionEnded,
        OrderPlaced,
        PaymentAuthorized,
        PaymentCaptured,
        PaymentFailed,
        RefundIssued,
        BookingMade,
        BookingCancelled,
        RiskDecided,
    )
}

TOPICS: tuple[str, ...] = tuple(sorted({cls.topic for cls in EVENT_CLASSES.values()}))

_ADAPTER: TypeAdapter[Event] = TypeAdapter(AnyEvent)


class ContractError(PaystreamError, ValueError):
    """An event that breaks its contract. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _describe(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<event>"
    kind = first["type"]
    if kind == "union_tag_invalid":
        return "unknown_event_type", f"event_type: {first['msg']}"
    if kind == "union_tag_not_found":
        return "missing_event_type", "event_type: field required"
    if field.endswith("currency"):
        return "unknown_currency", f"{field}: {first['msg']}"
    if field.endswith("amount_minor") or field.endswith("unit_price_minor"):
        return "invalid_amount", f"{field}: {first['msg']}"
    messages = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in exc.errors()[:5]
    )
    return "schema_violation", messages


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Parse and validate one event from its wire form.

    Raises:
        ContractError: with ``reason`` one of ``malformed_json``, ``unknown_event_type``,
            ``missing_event_type``, ``unknown_currency``, ``invalid_amount`` or
            ``schema_violation``, and a message naming the field and the rule.
    """
    try:
        if isinstance(raw, dict):
            return _ADAPTER.validate_python(raw)
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            message = f"not valid JSON: {exc.errors()[0]['msg']}"
            raise ContractError("malformed_json", message) from None
        reason, message = _describe(exc)
        raise ContractError(reason, message) from None


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event, by event type."""
    return {name: cls.model_json_schema() for name, cls in EVENT_CLASSES.items()}
