"""The lakehouse built from a real stream world: reconciliation, idempotency, engines agree."""

from __future__ import annotations

from datetime import date

import pytest
from deltalake import DeltaTable
from sqlalchemy import text

from lakehouse.gold.contract import GOLD_TABLES, column_types
from lakehouse.jobs import run_build
from lakehouse.reconcile import reconcile_gold
from paystream.stores.mysql import Database

pytestmark = pytest.mark.integration


def _ledger(lake, sql):
    db = Database(lake.world.settings.mysql)
    try:
        with db.reader.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        db.dispose()


def _fingerprint(spark, lake):
    """Row count and money totals of every silver and gold table, plus bronze's count."""
    out = {}
    for layer, names in (
        ("bronze", ["events"]),
        ("silver", ["payments", "refunds", "orders", "order_lines", "events_payments",
                    "events_orders", "graph_vertices", "graph_edges"]),
        ("gold", list(GOLD_TABLES)),
    ):  # fmt: skip
        for name in names:
            frame = spark.read.format("delta").load(lake.table(layer, name))
            money = [c for c in frame.columns if c.endswith("_minor")]
            sums = frame.selectExpr(*(f"sum({c})" for c in money)).first() if money else ()
            out[f"{layer}/{name}"] = (frame.count(), tuple(sums or ()))
    return out


def test_gold_merchant_statements_reconcile_with_ledger_balances_to_the_minor_unit(lake):
    report = reconcile_gold(lake.settings)
    assert report.ok, report.mismatches
    ledger = _ledger(
        lake,
        "SELECT currency, SUM(captured_minor), SUM(refunded_minor) FROM balances "
        "WHERE owner_kind = 'merchant' GROUP BY currency",
    )
    assert ledger, "the world's ledger holds no money"
    for currency, captured, refunded in ledger:
        assert report.gold[currency]["gross_minor"] == int(captured) > 0
        assert report.gold[currency]["refunds_minor"] == int(refunded)


def test_gold_tables_follow_the_contract_and_carry_ledger_facts(lake):
    for name in GOLD_TABLES:
        schema = DeltaTable(lake.table("gold", name)).schema()
        assert [f.name for f in schema.fields] == [c for c, _ in column_types(name)]
    labels = DeltaTable(lake.table("gold", "fraud_labels")).to_pyarrow_table().to_pylist()
    (payments,) = _ledger(lake, "SELECT COUNT(*) FROM payments")[0]
    (frauds,) = _ledger(
        lake,
        "SELECT COUNT(DISTINCT payment_id) FROM refunds WHERE reason = 'fraud_chargeback'",
    )[0]
    assert len(labels) == payments
    assert sum(r["label"] for r in labels) == frauds > 0
    history = DeltaTable(lake.table("gold", "customer_payment_history")).to_pyarrow_table()
    decisions = {
        r["payment_id"]: r["decision"] for r in history.to_pylist() if r["decision"] is not None
    }
    assert decisions == lake.decided
    kpis = DeltaTable(lake.table("gold", "risk_kpis")).to_pyarrow_table().to_pylist()
    assert sum(r["declined"] for r in kpis) == 1 and sum(r["reviewed"] for r in kpis) == 1
    assert sum(r["payments"] for r in kpis) == payments
    assert all(isinstance(r["day"], date) for r in kpis)


def test_gold_product_catalogue_holds_each_products_commonest_name_and_latest_ledger_price(
    lake,
):
    lines = _ledger(
        lake,
        "SELECT o.merchant_id, l.sku, l.description, l.unit_price_minor, o.currency, "
        "o.placed_at, o.order_id, l.line_no FROM order_lines l JOIN orders o USING (order_id)",
    )
    assert lines, "the world's ledger holds no order lines"
    uses: dict[tuple, dict[str, int]] = {}
    latest: dict[tuple, tuple] = {}
    for merchant, sku, description, price, currency, placed_at, order_id, line_no in lines:
        names = uses.setdefault((merchant, sku), {})
        names[description] = names.get(description, 0) + 1
        newest = latest.get((merchant, sku))
        if newest is None or (placed_at, order_id, line_no) > newest[:3]:
            latest[(merchant, sku)] = (placed_at, order_id, line_no, price, currency)
    expected = {
        key: (
            min(names, key=lambda name: (-names[name], name)),
            latest[key][3],
            latest[key][4],
            latest[key][0],
        )
        for key, names in uses.items()
    }
    rows = DeltaTable(lake.table("gold", "product_catalogue")).to_pyarrow_table().to_pylist()
    gold = {
        (r["merchant_id"], r["item"]): (
            r["name"],
            r["unit_price_minor"],
            r["currency"],
            r["priced_at"].replace(tzinfo=None),
        )
        for r in rows
    }
    assert len(rows) == len(gold) == len(expected)
    assert gold == expected


def test_spark_and_delta_rs_read_identical_rows_from_every_gold_table(spark, lake):
    for name in GOLD_TABLES:
        path = lake.table("gold", name)
        columns = [c for c, _ in column_types(name)]
        from_spark = sorted(
            (tuple(r) for r in spark.read.format("delta").load(path).select(*columns).collect()),
            key=repr,
        )
        arrow = DeltaTable(path).to_pyarrow_table(columns=columns)
        from_rs = sorted(
            (tuple(_naive(v) for v in r.values()) for r in arrow.to_pylist()), key=repr
        )
        assert from_spark == from_rs, name
        assert from_spark, f"gold/{name} is empty"


def _naive(value):
    # Spark hands timestamps back as naive UTC (session time zone UTC); delta-rs as aware UTC.
    return value.replace(tzinfo=None) if hasattr(value, "tzinfo") and value.tzinfo else value


def test_rebuilding_every_layer_changes_no_row_count_and_no_total(spark, lake):
    before = _fingerprint(spark, lake)
    run_build(lake.settings, spark)
    assert _fingerprint(spark, lake) == before
    assert before["bronze/events"][0] == lake.published


def test_no_layer_stores_a_card_number_that_arrived_in_any_field(lake):
    # The build ran over a log holding a test PAN in seven kinds of field (tests.support.card_numbers).
    import json
    from pathlib import Path

    from deltalake import DeltaTable

    from tests.support.card_numbers import FOUND

    tables = [p.parent for p in Path(lake.root).glob("*/*/_delta_log") if p.is_dir()]
    layers = {t.parent.name for t in tables}
    assert {"bronze", "silver", "gold"} <= layers
    for table in tables:
        rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
        text = json.dumps(
            rows, default=lambda v: v.decode("latin-1") if isinstance(v, bytes) else str(v)
        )
        assert not FOUND.search(text), f"{table.parent.name}/{table.name} holds a card number"
    refused = DeltaTable(lake.table("bronze", "events")).to_pyarrow_table().to_pylist()
    assert lake.hostile == 7 and len(refused) == lake.published
