"""The risk agent picks the authorizations out of a batch and never raises on a bad record."""

from __future__ import annotations

import json
import uuid

from risk.intake import authorizations

AUTH = {
    "event_id": str(uuid.uuid4()),
    "event_type": "payment.authorized",
    "occurred_at": "2026-01-05T10:00:00Z",
    "payment_id": "p-1",
    "customer_id": "c-1",
    "merchant_id": "m-1",
    "amount": {"amount_minor": 100, "currency": "HKD"},
}


def test_tombstones_garbage_and_card_numbers_are_skipped_not_raised():
    values = [
        None,  # a tombstone: a record without a value
        b"",
        b'{"event_type": "payment.authorized", "oops"',
        b'["payment.authorized"]',
        json.dumps({**AUTH, "device_id": "4111111111111111"}).encode(),
        json.dumps({**AUTH, "event_type": "payment.captured"}).encode(),
        json.dumps(AUTH).encode(),
    ]
    found = authorizations(values)  # type: ignore[arg-type]
    assert [a.payment_id for a in found] == ["p-1"]
    assert found[0].device_id is None
