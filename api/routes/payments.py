"""/v1/payments: intake (POST), status from the read replica, risk decision from Redis."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import text

from api.dependencies import MerchantDep, ResourcesDep
from api.intake import body_hash, payment_event_id
from api.problems import ApiProblem, not_found, problem_responses
from paystream.contracts.events import Identifier, PaymentAuthorized, PaymentMethod
from paystream.contracts.pan import contains_pan
from paystream.contracts.served import StoredDecision
from paystream.money import Money

router = APIRouter(prefix="/v1/payments", tags=["payments"])

_PAN_FIELDS = {"pan", "card_number", "cardnumber", "number", "card", "card_no"}
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Client-chosen unique key; a retry with the same key and body is replayed.",
    ),
]


class PaymentRequest(BaseModel):
    """A card, wallet or FPS authorization to record. The merchant comes from the API key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C17850",
                    "amount": {"amount_minor": 2550, "currency": "GBP"},
                    "method": "card",
                    "card_fingerprint": "9f86d081884c7d659a2feaa0c55ad015",
                    "order_id": "O536365",
                    "device_id": "dev-ios-42",
                    "ip_country": "United Kingdom",
                }
            ]
        },
    )

    customer_id: Identifier
    amount: Money
    method: PaymentMethod = PaymentMethod.CARD
    card_fingerprint: str | None = Field(
        default=None,
        description="Card token or fingerprint, 32-64 lowercase hex. Never a card number.",
        examples=["9f86d081884c7d659a2feaa0c55ad015"],
        # Documented, but enforced by the validator below so a PAN gets its own message.
        json_schema_extra={"pattern": "^[0-9a-f]{32,64}$"},
    )
    order_id: Identifier | None = None
    booking_id: Identifier | None = None
    device_id: Identifier | None = None
    ip_country: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_card_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                if str(name).lower() in _PAN_FIELDS:
                    raise ValueError(
                        f"field {name!r} looks like a card number field; card numbers (PANs) "
                        "are never accepted, send card_fingerprint (a 32-64 hex token)"
                    )
        return data

    @field_validator("customer_id", "order_id", "booking_id", "device_id", "ip_country")
    @classmethod
    def _no_pan_in_text(cls, value: str | None) -> str | None:
        # Every free-text identifier ends up in the ledger, Redis, the graph or the lakehouse.
        if value is not None and contains_pan(value):
            raise ValueError(
                "looks like a card number (PAN); card numbers are never accepted in any field"
            )
        return value

    @field_validator("amount")
    @classmethod
    def _positive_amount(cls, value: Money) -> Money:
        # A zero payment moves no money but would link its customer to this merchant (and to
        # the data that link opens). Card verification is not an intake type here.
        if value.amount_minor <= 0:
            raise ValueError("amount_minor must be at least 1 (zero-amount payments are refused)")
        return value

    @field_validator("card_fingerprint")
    @classmethod
    def _token_not_pan(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if contains_pan(value):
            raise ValueError(
                "looks like a card number (PAN); card numbers are never accepted, send a "
                "card token or fingerprint (32-64 hex characters)"
            )
        if not re.fullmatch(r"[0-9a-f]{32,64}", value):
            raise ValueError("must be a card token or fingerprint: 32-64 lowercase hex characters")
        return value


class PaymentAccepted(BaseModel):
    """The payment was accepted for processing (its event is on the payments topic)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_id": "pay_3b7c0b4f9a1e5d2c8f6a4b3c2d1e0f9a",
                    "event_id": "3b7c0b4f-9a1e-5d2c-8f6a-4b3c2d1e0f9a",
                    "status": "accepted",
                    "merchant_id": "M-online-retail",
                    "customer_id": "C17850",
                }
            ]
        }
    )

    payment_id: str
    event_id: str
    status: str = "accepted"
    merchant_id: str
    customer_id: str


class PaymentStatus(BaseModel):
    """A payment as the ledger (read replica) holds it."""

    payment_id: str
    customer_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    status: str
    method: str | None
    refunded_minor: int
    failure_code: str | None
    authorized_at: datetime | None
    captured_at: datetime | None
    failed_at: datetime | None
    updated_at: datetime


class RiskDecisionOut(BaseModel):
    """The risk agent's decision on a payment."""

    payment_id: str
    decision: str
    score: float
    reasons: list[str]
    model_version: str | None
    degraded: bool
    authorized_at: datetime
    decided_at: datetime


@router.post(
    "",
    status_code=202,
    response_model=PaymentAccepted,
    summary="Submit a payment authorization",
    responses={
        200: {"model": PaymentAccepted, "description": "Replay of an earlier identical request"},
        **problem_responses(401, 403, 409, 422, 429, 503),
    },
)
async def create_payment(
    body: PaymentRequest,
    resources: ResourcesDep,
    principal: MerchantDep,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Validate the payment and produce a ``payment.authorized`` event (acks=all).

    The event id (and payment id) derive from the merchant, the ``Idempotency-Key`` and the
    body's hash: the same key with the same body returns the same response without producing
    again (and maps to the same payment even after the record expired); the same key with
    another body is a 409 while the record lives (24 h). A claim left pending by a crash
    frees the key after a minute.
    """
    merchant_id = principal.merchant_id
    assert merchant_id is not None
    if principal.customer_id is not None and principal.customer_id != body.customer_id:
        raise ApiProblem(403, "this key may only pay for its own customer", "forbidden")
    digest = body_hash(body.model_dump(mode="json"))
    claim = await resources.idempotency.claim(merchant_id, idempotency_key, digest)
    if claim.state == "conflict":
        raise ApiProblem(
            409, "Idempotency-Key already used with a different body", "idempotency-conflict"
        )
    if claim.state == "in_progress":
        raise ApiProblem(
            409,
            "a request with this Idempotency-Key is still in progress; retry shortly",
            "idempotency-in-progress",
            {"Retry-After": "1"},
        )
    if claim.state == "replay":
        return JSONResponse(
            claim.response, status_code=claim.status, headers={"Idempotent-Replayed": "true"}
        )
    event_id = payment_event_id(merchant_id, idempotency_key, digest)
    payment_id = f"pay_{event_id.hex}"
    event = PaymentAuthorized(
        event_id=event_id,
        occurred_at=datetime.now(UTC),
        payment_id=payment_id,
        customer_id=body.customer_id,
        merchant_id=merchant_id,
        amount=body.amount,
        method=body.method,
        card_fingerprint=body.card_fingerprint,
        order_id=body.order_id,
        booking_id=body.booking_id,
        device_id=body.device_id,
        ip_country=body.ip_country,
    )
    try:
        await resources.producer.publish(event)
    except BaseException:
        await resources.idempotency.release(merchant_id, idempotency_key)
        raise
    accepted = PaymentAccepted(
        payment_id=payment_id,
        event_id=str(event_id),
        merchant_id=merchant_id,
        customer_id=body.customer_id,
    ).model_dump(mode="json")
    await resources.idempotency.complete(merchant_id, idempotency_key, digest, 202, accepted)
    resources.metrics.payments_accepted.inc()
    return JSONResponse(
        accepted, status_code=202, headers={"Location": f"/v1/payments/{payment_id}"}
    )


_STATUS_SQL = text(
    "SELECT payment_id, customer_id, merchant_id, amount_minor, currency, status, method,"
    " refunded_minor, failure_code, authorized_at, captured_at, failed_at, updated_at"
    " FROM payments WHERE payment_id = :p AND merchant_id = :m"
)


@router.get(
    "/{payment_id}",
    response_model=PaymentStatus,
    summary="A payment's status (from the ledger's read replica)",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
def get_payment(payment_id: PaymentId, resources: ResourcesDep, principal: MerchantDep) -> Any:
    """Status of one of the caller's payments, read from the MySQL read replica.

    A payment accepted moments ago is 404 until the stream workers have recorded it.
    """
    with resources.reader.connect() as conn:
        row = conn.execute(_STATUS_SQL, {"p": payment_id, "m": principal.merchant_id}).first()
    if row is None or (principal.customer_id and row.customer_id != principal.customer_id):
        raise not_found(f"no payment {payment_id} for this API key")
    return PaymentStatus.model_validate(row._mapping)


@router.get(
    "/{payment_id}/risk",
    response_model=RiskDecisionOut,
    summary="The risk agent's decision on a payment",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def get_risk(payment_id: PaymentId, resources: ResourcesDep, principal: MerchantDep) -> Any:
    """The decision the risk agent stored in Redis for one of the caller's payments.

    Merchant keys only: a customer-scoped (app) key gets 403, because scores, reasons and
    model versions would let a customer probe the fraud model until a payment passes.
    """
    if principal.customer_id is not None:
        raise ApiProblem(403, "customer-scoped keys cannot read risk decisions", "forbidden")
    fields = await resources.redis.hgetall(resources.served.decision(payment_id))
    if not fields:
        raise not_found(f"no risk decision for payment {payment_id} for this API key")
    decision = StoredDecision.from_hash(fields)
    visible = decision.merchant_id == principal.merchant_id and (
        principal.customer_id is None or principal.customer_id == decision.customer_id
    )
    if not visible:
        raise not_found(f"no risk decision for payment {payment_id} for this API key")
    return RiskDecisionOut.model_validate(decision.model_dump())
