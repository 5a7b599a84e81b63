"""Contract validation of bronze records, run as Spark's Python workers run it (no JVM)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from lakehouse.silver.events import _validate_rows
from paystream.contracts.events import PaymentCaptured, event_id_for
from paystream.contracts.storable import storable
from paystream.money import Money

CAPTURED = {
    "event_id": "6f1c3f0e-5b8e-4d4a-9a63-3f0a3b6f9c21",
    "event_type": "payment.captured",
    "occurred_at": "2026-01-01T00:00:00Z",
    "payment_id": "p1",
    "customer_id": "c1",
    "merchant_id": "m1",
    "amount": {"amount_minor": 1, "currency": "HKD"},
}


def _frame(values):
    return pd.DataFrame({"topic": ["p.payments"] * len(values), "value": values})


def test_valid_events_pass_with_their_topic():
    event = PaymentCaptured(
        event_id=event_id_for("x"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        payment_id="p1",
        customer_id="c1",
        merchant_id="m1",
        amount=Money(amount_minor=100, currency="HKD"),
    )
    newer = json.loads(event.to_bytes()) | {"schema_version": 2, "tip_minor": 5}
    (out,) = list(_validate_rows(iter([_frame([event.to_bytes(), json.dumps(newer).encode()])])))
    assert out["ok"].tolist() == [True, True]
    assert out["logical_topic"].tolist() == ["payments", "payments"]


def test_card_numbers_are_quarantined_masked_whether_bronze_refused_them_or_not():
    raw = json.dumps({**CAPTURED, "customer_id": "4111111111111111"}).encode()
    (out,) = list(_validate_rows(iter([_frame([raw, storable(raw)])])))
    assert out["ok"].tolist() == [False, False]
    assert out["reason"].tolist() == ["card_number", "card_number"]
    assert not any("4111111111111111" in text for text in out["value"])


def test_contract_violations_carry_the_contracts_reason_code():
    bad_currency = {
        "event_id": str(event_id_for("y")),
        "event_type": "payment.captured",
        "occurred_at": "2026-01-01T00:00:00Z",
        "payment_id": "p1",
        "customer_id": "c1",
        "merchant_id": "m1",
        "amount": {"amount_minor": 1, "currency": "XXX"},
    }
    values = [b"nope", json.dumps(bad_currency).encode(), b'{"event_type": "payment.flew"}']
    (out,) = list(_validate_rows(iter([_frame(values)])))
    assert not out["ok"].any()
    assert out["reason"].tolist() == ["malformed_json", "unknown_currency", "unknown_event_type"]
