"""Gold reads through delta-rs on a local folder: filters, refresh and missing tables."""

from __future__ import annotations

from datetime import date

import pytest
from deltalake import write_deltalake

from api.gold import GoldTables
from harness.sample_gold import (
    SampleSpec,
    product_daily_table,
    product_name,
    risk_reasons_table,
    statements_table,
    write_gold,
)
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


def test_top_products_rank_units_in_the_range_and_carry_their_names(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=60)
    rows = gold.top_products(3).to_pylist()
    assert len(rows) == 3
    assert rows[0]["units"] >= rows[1]["units"] >= rows[2]["units"]
    assert rows[0]["description"] == product_name(int(rows[0]["item"][3:]))
    daily = product_daily_table(SPEC).to_pylist()
    first_week = [r for r in daily if r["day"] <= date(2011, 1, 7) and r["item"] == "SKU0000"]
    week = gold.top_products(100, date(2011, 1, 1), date(2011, 1, 7)).to_pylist()
    sku0 = next(r for r in week if r["item"] == "SKU0000")
    assert sku0["units"] == sum(r["units"] for r in first_week)


def test_reasons_sum_the_range_per_code_and_decision(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=60)
    rows = gold.risk_reasons(date(2011, 1, 3), date(2011, 1, 4)).to_pylist()
    expected = {}
    for r in risk_reasons_table(SPEC).to_pylist():
        if date(2011, 1, 3) <= r["day"] <= date(2011, 1, 4):
            key = (r["reason"], r["decision"])
            expected[key] = expected.get(key, 0) + r["decisions"]
    assert {(r["reason"], r["decision"]): r["decisions"] for r in rows} == expected
    counts = [r["decisions"] for r in rows]
    assert counts == sorted(counts, reverse=True)


def test_period_spans_the_daily_statements_and_revenue_honours_it(tmp_path):
    write_gold(tmp_path, SPEC)
    gold = GoldTables(tmp_path, refresh_s=60)
    assert gold.period() == (date(2011, 1, 1), date(2011, 2, 14))
    days = gold.revenue("day", date(2011, 1, 10), date(2011, 1, 12)).to_pylist()
    assert [r["period_start"] for r in days] == [date(2011, 1, d) for d in (10, 11, 12)]
    assert gold.risk_kpis(date(2011, 2, 1), None).num_rows == 14
