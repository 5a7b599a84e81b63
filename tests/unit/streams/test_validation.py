import json
import uuid

import pytest

from paystream.contracts.deadletter import DeadLetter
from streams.sinks.port import Envelope
from streams.validation import MAX_RECORD_BYTES, RawRecord, validate

GOOD = {
    "event_id": str(uuid.uuid4()),
    "event_type": "payment.captured",
    "occurred_at": "2026-01-05T10:00:00Z",
    "payment_id": "p-1",
    "customer_id": "c-1",
    "merchant_id": "m-1",
    "amount": {"amount_minor": 100, "currency": "HKD"},
}


def record(value):
    return RawRecord("paystream.payments", 2, 41, value)


def test_a_valid_record_becomes_an_envelope_with_its_position():
    outcome = validate(record(json.dumps(GOOD).encode()))
    assert isinstance(outcome, Envelope)
    assert (outcome.topic, outcome.partition, outcome.offset) == ("paystream.payments", 2, 41)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty_record"),
        (None, "empty_record"),
        (b"\xff\xfe\x00garbage", "malformed_json"),
        (b'{"event_type": "payment.captured"', "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed_json"),  # absurd nesting
        (json.dumps({**GOOD, "event_type": "x.y"}).encode(), "unknown_event_type"),
        (
            json.dumps({**GOOD, "amount": {"amount_minor": -1, "currency": "HKD"}}).encode(),
            "invalid_amount",
        ),
        (
            json.dumps({**GOOD, "amount": {"amount_minor": 10**20, "currency": "HKD"}}).encode(),
            "invalid_amount",
        ),
        (
            json.dumps({**GOOD, "amount": {"amount_minor": 1, "currency": "ABC"}}).encode(),
            "unknown_currency",
        ),
        (
            json.dumps({**GOOD, "customer_id": "'; DROP TABLE payments; --"}).encode(),
            "schema_violation",
        ),
        (json.dumps({**GOOD, "merchant_id": "g.V().drop()"}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "payment_id": "p" * 5000}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "amount": "100"}).encode(), "schema_violation"),
        (b"x" * (MAX_RECORD_BYTES + 1), "oversized_record"),
    ],
)
def test_bad_records_become_dead_letters_with_reason_position_and_original_bytes(value, reason):
    outcome = validate(record(value))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == reason
    assert (outcome.source, outcome.partition, outcome.offset) == ("paystream.payments", 2, 41)
    assert (value or b"").startswith(outcome.original)


def test_a_timestamp_with_no_utc_representation_is_a_dead_letter_not_a_crash():
    for stamp in ("9999-12-31T23:30:00-05:00", "0001-01-01T00:10:00+01:00"):
        outcome = validate(record(json.dumps({**GOOD, "occurred_at": stamp}).encode()))
        assert isinstance(outcome, DeadLetter)
        assert "occurred_at" in outcome.detail


def test_a_huge_bad_record_gives_a_dead_letter_that_still_fits_one_kafka_record():
    value = b"{" + b"x" * (MAX_RECORD_BYTES + 10)
    outcome = validate(record(value))
    assert outcome.reason == "oversized_record"
    assert len(outcome.to_bytes()) < 1_000_000
    assert outcome.original == value[: len(outcome.original)]
    assert str(len(value)) in outcome.detail and "sha256" in outcome.detail


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", "4111111111111111"),
        ("payment_id", "4111-1111-1111-1111"),
        ("merchant_id", "m 4111 1111 1111 1111"),
        ("pan", "4111111111111111"),  # an unknown extra field counts too
    ],
)
def test_a_card_number_in_any_string_field_is_dead_lettered_masked(field, value):
    outcome = validate(record(json.dumps({**GOOD, field: value}).encode()))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "card_number"
    assert outcome.detail.startswith(field)
    assert b"4111111111111111" not in outcome.original.replace(b" ", b"").replace(b"-", b"")
    assert b"411111" in outcome.original.replace(b" ", b"").replace(b"-", b"")
