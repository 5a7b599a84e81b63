"""Silver event refinement on real Spark: quarantine, dedup, unknown fields, card numbers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from lakehouse.paths import LakePaths
from lakehouse.silver.events import BatchStats, process_batch

pytestmark = pytest.mark.integration

BRONZE_DDL = (
    "key string, value binary, topic string, partition int, offset long, "
    "kafka_timestamp timestamp, ingested_at timestamp"
)


def _captured(version: int = 1, **extra):
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "payment.captured",
        "schema_version": version,
        "occurred_at": "2026-01-05T10:00:00.250000Z",
        "payment_id": f"pay-{uuid.uuid4().hex[:8]}",
        "customer_id": "cust-1",
        "merchant_id": "m-1",
        "amount": {"amount_minor": 1250, "currency": "HKD"},
        **extra,
    }
    return json.dumps(event).encode()


def _batch(spark, values, start=0):
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [("k", v, "t.payments", 0, start + i, now, now) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, BRONZE_DDL)


def test_malformed_records_go_to_quarantine_and_duplicates_land_once(spark, tmp_path):
    paths = LakePaths.of(tmp_path)
    good = _captured()
    batch = _batch(spark, [good, good, b"{not json", _captured()[:-1], b'{"event_type":"x"}'])
    stats = BatchStats()
    process_batch(spark, batch, paths, stats)
    process_batch(spark, batch, paths, stats)  # the same micro-batch again: no change
    events = spark.read.format("delta").load(paths.table("silver", "events_payments"))
    assert events.count() == 1
    row = events.first()
    assert row["occurred_at"] == datetime(2026, 1, 5, 10, 0, 0, 250000)
    assert row["amount"]["amount_minor"] == 1250
    quarantine = spark.read.format("delta").load(paths.table("silver", "events_quarantine"))
    reasons = sorted(r["reason"] for r in quarantine.collect())
    assert reasons == ["malformed_json", "malformed_json", "unknown_event_type"]


def test_fields_the_contract_does_not_know_never_become_columns(spark, tmp_path):
    paths = LakePaths.of(tmp_path)
    stats = BatchStats()
    newer = _captured(version=2, loyalty_tier="gold", pan_hint="x")
    process_batch(spark, _batch(spark, [_captured(), newer]), paths, stats)
    frame = spark.read.format("delta").load(paths.table("silver", "events_payments"))
    assert "loyalty_tier" not in frame.columns and "pan_hint" not in frame.columns
    assert frame.count() == 2 and stats.valid == 2


def test_a_card_number_is_quarantined_masked_never_stored(spark, tmp_path):
    from paystream.contracts.storable import storable

    paths = LakePaths.of(tmp_path)
    stats = BatchStats()
    raw = _captured(ip_note="card 4111 1111 1111 1111")
    process_batch(spark, _batch(spark, [raw, storable(raw)]), paths, stats)
    quarantine = spark.read.format("delta").load(paths.table("silver", "events_quarantine"))
    rows = quarantine.collect()
    assert [r["reason"] for r in rows] == ["card_number", "card_number"]
    assert not any("4111 1111 1111 1111" in r["value"] for r in rows)
    assert stats.valid == 0
