import json
import uuid
from datetime import UTC, datetime

import pytest

from paystream.contracts import (
    EVENT_CLASSES,
    ContractError,
    event_id_for,
    json_schemas,
    parse_event,
)
from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.events import OrderPlaced, PaymentAuthorized


def payment(**overrides):
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": "payment.authorized",
        "occurred_at": "2026-01-05T10:00:00Z",
        "payment_id": "pay-1",
        "customer_id": "cust-1",
        "merchant_id": "m-1",
        "amount": {"amount_minor": 1250, "currency": "HKD"},
        "card_fingerprint": "ab" * 16,
    }
    body.update(overrides)
    return body


def test_a_valid_payment_round_trips_through_its_wire_form():
    event = parse_event(json.dumps(payment()).encode())
    assert isinstance(event, PaymentAuthorized)
    assert event.amount.amount_minor == 1250
    assert parse_event(event.to_bytes()) == event
    assert event.partition_key() == "cust-1"


@pytest.mark.parametrize(
    ("raw", "reason", "names"),
    [
        (b"{not json", "malformed_json", "JSON"),
        (
            json.dumps(payment(event_type="payment.teleported")).encode(),
            "unknown_event_type",
            "event_type",
        ),
        (
            json.dumps({k: v for k, v in payment().items() if k != "event_type"}).encode(),
            "missing_event_type",
            "event_type",
        ),
        (
            json.dumps(payment(amount={"amount_minor": -5, "currency": "HKD"})).encode(),
            "invalid_amount",
            "amount.amount_minor",
        ),
        (
            json.dumps(payment(amount={"amount_minor": 10**19, "currency": "HKD"})).encode(),
            "invalid_amount",
            "amount.amount_minor",
        ),
        (
            json.dumps(payment(amount={"amount_minor": 12.5, "currency": "HKD"})).encode(),
            "invalid_amount",
            "amount.amount_minor",
        ),
        (
            json.dumps(payment(amount={"amount_minor": 100, "currency": "XXX"})).encode(),
            "unknown_currency",
            "amount.currency",
        ),
        (
            json.dumps(payment(occurred_at="2026-01-05T10:00:00")).encode(),
            "schema_violation",
            "occurred_at",
        ),
        (
            json.dumps(payment(customer_id="x' OR 1=1; --")).encode(),
            "schema_violation",
            "customer_id",
        ),
        (
            json.dumps(payment(card_fingerprint="4111111111111111")).encode(),
            "schema_violation",
            "card_fingerprint",
        ),
    ],
)
def test_invalid_events_fail_with_a_reason_naming_the_field(raw, reason, names):
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    assert info.value.reason == reason
    assert names in str(info.value)


def test_card_numbers_are_not_accepted_as_fingerprints():
    # A PAN is 12-19 digits, so it can never pass for a 32-64 hex character fingerprint.
    with pytest.raises(ContractError):
        parse_event(payment(card_fingerprint="4111 1111 1111 1111"))


def test_order_total_must_equal_the_sum_of_its_lines():
    base = {
        "event_id": str(uuid.uuid4()),
        "event_type": "order.placed",
        "occurred_at": datetime(2026, 1, 5, tzinfo=UTC).isoformat(),
        "order_id": "o-1",
        "customer_id": "c-1",
        "merchant_id": "m-1",
        "lines": [
            {"line_no": 1, "sku": "85123A", "quantity": 6, "unit_price_minor": 255},
            {"line_no": 2, "sku": "71053", "quantity": 1, "unit_price_minor": 339},
        ],
        "total": {"amount_minor": 6 * 255 + 339, "currency": "GBP"},
    }
    assert isinstance(parse_event(base), OrderPlaced)
    base["total"] = {"amount_minor": 1, "currency": "GBP"}
    with pytest.raises(ContractError, match="sum of lines"):
        parse_event(base)


def test_a_newer_schema_version_with_extra_fields_stays_readable():
    event = parse_event(payment(schema_version=2, risk_hint="low", new_block={"a": 1}))
    assert event.schema_version == 2


def test_occurred_at_is_normalised_to_utc():
    event = parse_event(payment(occurred_at="2026-01-05T18:00:00+08:00"))
    assert event.occurred_at == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_event_ids_are_deterministic_per_source_record():
    assert event_id_for("retail", "order", "536365") == event_id_for("retail", "order", "536365")
    assert event_id_for("retail", "order", "536365") != event_id_for("retail", "order", "536366")


def test_every_event_type_exports_a_json_schema_with_the_envelope():
    schemas = json_schemas()
    assert set(schemas) == set(EVENT_CLASSES)
    for schema in schemas.values():
        assert {"event_id", "occurred_at"} <= set(schema["required"])


def test_dead_letters_keep_the_original_bytes_through_json():
    letter = DeadLetter(
        reason="malformed_json",
        source="paystream.payments",
        partition=3,
        offset=42,
        original=b"\xff{bad",
    )
    again = DeadLetter.model_validate_json(letter.to_bytes())
    assert again.original == b"\xff{bad"
    assert letter.key() == b"paystream.payments:3:42"
