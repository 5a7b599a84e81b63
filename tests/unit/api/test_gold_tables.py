"""Gold reads through delta-rs on a local folder: filters, refresh and missing tables."""

from __future__ import annotations

from datetime import date

import pytest
from deltalake import write_deltalake

from api.gold import GoldTables
from harness.sample_gold import SampleSpec, statements_table, write_gold
from paystream.errors import ServiceUnavailableError

SPEC = SampleSpec(merchants=["M1", "M2"], customers=["C0", "C1", "C2"], days=45)


def test_statements_filter_pushes_merchant_range_and_granularity(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=60)
    rows = gold.statements("M2", "day", date(2011, 1, 5), date(2011, 1, 7)).to_pylist()
    assert [(r["merchant_id"], r["period_start"]) for r in rows] == [
        ("M2", date(2011, 1, 5)),
        ("M2", date(2011, 1, 6)),
        ("M2", date(2011, 1, 7)),
    ]
    months = gold.statements("M2", "month", None, None).to_pylist()
    days = gold.statements("M2", "day", None, None).to_pylist()
    assert sum(m["net_minor"] for m in months) == sum(d["net_minor"] for d in days)


def test_missing_table_is_service_unavailable_naming_it(tmp_path):
    gold = GoldTables(tmp_path, refresh_s=60)
    with pytest.raises(ServiceUnavailableError, match="merchant_statements"):
        gold.statements("M1", "day", None, None)


def test_cached_handle_sees_a_new_version_after_the_refresh_interval(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=0)
    before = gold.statements("M9", "day", None, None).num_rows
    extra = statements_table(SampleSpec(merchants=["M9"], customers=[], days=3))
    write_deltalake(
        str(tmp_path / "gold" / "merchant_statements"),
        extra,
        mode="append",
        partition_by=["granularity"],
    )
    assert before == 0
    assert gold.statements("M9", "day", None, None).num_rows == 3


def test_history_is_newest_first_and_limited(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=60)
    rows = gold.history("C0", "M1", limit=2).to_pylist()
    assert len(rows) == 2
    assert rows[0]["authorized_at"] >= rows[1]["authorized_at"]
    assert gold.history("C0", "M2", limit=10).num_rows == 0  # C0 pays M1 only


def test_top_products_are_ordered_by_weight(tmp_path):
    write_gold(tmp_path, SPEC)
    rows = GoldTables(tmp_path, refresh_s=60).top_products(3).to_pylist()
    assert len(rows) == 3
    assert rows[0]["weight"] >= rows[1]["weight"] >= rows[2]["weight"]
