"""Gold's freshness record: stored as Redis hash fields and read back, and its lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paystream.contracts.freshness import GoldFreshness

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_record_survives_its_redis_fields_unchanged():
    record = GoldFreshness(
        covers_until=NOW - timedelta(seconds=40),
        refreshed_at=NOW - timedelta(seconds=5),
        source_watermark=NOW - timedelta(seconds=42),
        refresh_s=35.25,
        status="ok",
    )
    assert GoldFreshness.from_fields(record.to_fields()) == record


def test_lag_counts_from_the_moment_gold_covers_and_never_goes_negative():
    record = GoldFreshness(NOW - timedelta(seconds=40), NOW, None, 1.0)
    assert record.lag_s(NOW) == 40.0
    assert record.lag_s(NOW - timedelta(minutes=5)) == 0.0


def test_nothing_stored_reads_as_no_record():
    assert GoldFreshness.from_fields({}) is None
    assert GoldFreshness.from_fields({"covers_until": "", "refreshed_at": ""}) is None
