"""The platform load's payer identities: fresh each pass, valid against the contract."""

from __future__ import annotations

import json

from api.routes.payments import PaymentRequest
from bench.lib.platform_load import PaymentTemplate, pass_body
from paystream.contracts.events import PaymentAuthorized

FINGERPRINT = "ab" * 16
TEMPLATE = PaymentTemplate(
    "m-0001",
    "c-0042",
    json.dumps(
        {
            "customer_id": "c-0042",
            "amount": {"amount_minor": 1250, "currency": "HKD"},
            "method": "card",
            "card_fingerprint": FINGERPRINT,
            "device_id": "d-7",
            "ip_country": "HK",
        }
    ).encode(),
)


def test_each_pass_pays_with_its_own_customer_card_and_device() -> None:
    first = json.loads(pass_body(TEMPLATE, "bp-1", 0))
    second = json.loads(pass_body(TEMPLATE, "bp-1", 1))
    for name in ("customer_id", "card_fingerprint", "device_id"):
        assert first[name] != second[name]
        assert first[name] != json.loads(TEMPLATE.body)[name]
    # The amount, method and country are the simulator's, unchanged.
    assert first["amount"] == second["amount"] == {"amount_minor": 1250, "currency": "HKD"}
    assert first["ip_country"] == "HK" and first["method"] == "card"


def test_a_pass_body_is_the_same_for_the_same_pass_and_tag() -> None:
    assert pass_body(TEMPLATE, "bp-1", 3) == pass_body(TEMPLATE, "bp-1", 3)
    assert pass_body(TEMPLATE, "bp-1", 3) != pass_body(TEMPLATE, "bp-2", 3)


def test_renamed_ids_still_satisfy_the_payment_contract() -> None:
    long_tag = "bp-" + "x" * 80
    body = json.loads(pass_body(TEMPLATE, long_tag, 12345))
    event = PaymentAuthorized.model_validate(
        {
            **body,
            "event_id": "00000000-0000-4000-8000-000000000001",
            "occurred_at": "2026-01-05T00:00:00Z",
            "payment_id": "p-1",
            "merchant_id": TEMPLATE.merchant_id,
        }
    )
    assert event.card_fingerprint is not None and len(event.card_fingerprint) == 64
    PaymentRequest.model_validate(body)  # and the API's intake takes the body as posted
    assert len(event.customer_id) <= 64
