"""Silver event refinement on real Spark: quarantine, dedup and schema evolution."""

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


def test_a_new_optional_field_in_a_newer_event_version_becomes_a_new_column(spark, tmp_path):
    paths = LakePaths.of(tmp_path)
    stats = BatchStats()
    process_batch(spark, _batch(spark, [_captured(), _captured()]), paths, stats)
    table = paths.table("silver", "events_payments")
    assert "loyalty_tier" not in spark.read.format("delta").load(table).columns

    newer = _captured(version=2, loyalty_tier="gold", installments=3)
    process_batch(spark, _batch(spark, [newer], start=10), paths, stats)

    frame = spark.read.format("delta").load(table)
    types = dict(frame.dtypes)
    assert types["loyalty_tier"] == "string" and types["installments"] == "bigint"
    rows = {r["schema_version"]: r for r in frame.collect()}
    assert rows[2]["loyalty_tier"] == "gold" and rows[2]["installments"] == 3
    assert frame.where("schema_version = 1 AND loyalty_tier IS NULL").count() == 2
    # The version before the evolution still reads with its own schema.
    old = spark.read.format("delta").option("versionAsOf", 0).load(table)
    assert "loyalty_tier" not in old.columns and old.count() == 2
