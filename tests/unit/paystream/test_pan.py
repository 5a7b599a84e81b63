"""Card numbers are recognized in any string, never in ids or numbers, and masked 6 + 4."""

from __future__ import annotations

import json
import uuid

import pytest

from paystream.contracts.deadletter import DeadLetter
from paystream.contracts.pan import (
    contains_pan,
    find_pan_in_json,
    luhn_valid,
    mask_pans,
    mask_pans_in_bytes,
)

VISA, MASTERCARD, AMEX = "4111111111111111", "5500000000000004", "378282246310005"


@pytest.mark.parametrize(
    "text",
    [
        VISA,
        MASTERCARD,
        AMEX,
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "cust-4111111111111111",
        f"refund for card {MASTERCARD}, thanks",
        "6011000990139424",  # Discover
        "4222222222222",  # 13 digits
    ],
)
def test_luhn_valid_card_shapes_are_found_anywhere_in_a_string(text):
    assert contains_pan(text)


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # fails Luhn
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits: not a card number
        "4111  1111 1111 1111",  # a double space ends the run
        "2011-12-09T12:50:00Z",
        "cust-14911",
        str(uuid.UUID("bde27267-5086-5925-81eb-e703257a36f6")),  # holds a Luhn-valid run
        "9f86d081884c7d659a2feaa0c55ad01500000000000000000000000000000008",  # hex fingerprint
    ],
)
def test_ids_fingerprints_and_short_or_invalid_numbers_are_not_card_numbers(text):
    assert not contains_pan(text)


def test_luhn():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_masking_keeps_the_first_six_and_last_four_digits_and_the_separators():
    assert mask_pans(f"card {VISA} ok") == "card 411111******1111 ok"
    assert mask_pans("4111 1111 1111 1111") == "4111 11** **** 1111"
    assert mask_pans("order 536365 on 2010-12-01") == "order 536365 on 2010-12-01"


def test_only_strings_count_in_a_json_record_not_numbers():
    assert find_pan_in_json(json.dumps({"amount_minor": int(VISA)}).encode()) is None
    record = {"lines": [{"sku": "a"}, {"description": f"x {VISA}"}]}
    assert find_pan_in_json(json.dumps(record).encode()) == "lines.1.description"
    assert find_pan_in_json(json.dumps({VISA: 1}).encode()) == VISA
    assert find_pan_in_json(b"not json 4111111111111111") is None


def test_raw_bytes_are_masked_even_when_they_are_not_utf8_or_json():
    raw = b"\xff\xfe" + VISA.encode() + b"\x00"
    assert mask_pans_in_bytes(raw) == b"\xff\xfe411111******1111\x00"


def test_a_dead_letter_never_holds_the_card_number():
    letter = DeadLetter.capped(
        reason="schema_violation",
        detail=f"customer_id: {VISA} is not allowed",
        source="paystream.payments",
        original=json.dumps({"customer_id": VISA}).encode(),
    )
    wire = letter.to_bytes()
    assert VISA not in letter.detail and VISA.encode() not in letter.original
    assert b"411111******1111" in letter.original
    assert VISA.encode() not in wire


def test_stores_keep_events_without_unknown_fields_and_never_a_card_number():
    from paystream.contracts.storable import refused_reason, storable

    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "payment.captured",
        "occurred_at": "2026-01-01T00:00:00Z",
        "payment_id": "p1",
        "customer_id": "c1",
        "merchant_id": "m1",
        "amount": {"amount_minor": 1, "currency": "HKD"},
    }
    extra = storable(json.dumps({**event, "loyalty_tier": "gold"}).encode())
    assert "loyalty_tier" not in json.loads(extra) and json.loads(extra)["payment_id"] == "p1"
    refused = storable(json.dumps({**event, "pan": VISA}).encode())
    assert refused_reason(refused) == "card_number" and VISA.encode() not in refused
    assert json.loads(refused)["at"] == "pan"
    assert storable(b"{not json") == b"{not json"
    assert refused_reason(extra) is None
