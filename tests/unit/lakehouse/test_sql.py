"""Analyst SQL through delta-rs/DataFusion over tables written by delta-rs (no JVM)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakehouse.sql import QueryError, query, table_locations
from paystream.errors import ConfigurationError


def test_tables_are_registered_by_name_and_queried_without_spark(tmp_path):
    statements = pa.table(
        {
            "merchant_id": ["m1", "m1", "m2"],
            "currency": ["HKD", "HKD", "JPY"],
            "gross_minor": pa.array([100, 250, 7], pa.int64()),
        }
    )
    write_deltalake(str(tmp_path / "gold" / "merchant_statements"), statements)
    write_deltalake(str(tmp_path / "bronze" / "events"), pa.table({"offset": [1, 2]}))
    assert set(table_locations(tmp_path)) == {"merchant_statements", "bronze_events"}
    result = query(
        tmp_path,
        "SELECT merchant_id, SUM(gross_minor) AS g FROM merchant_statements "
        "GROUP BY merchant_id ORDER BY merchant_id",
    ).to_pylist()
    assert result == [{"merchant_id": "m1", "g": 350}, {"merchant_id": "m2", "g": 7}]


def test_unknown_table_is_a_clear_error_and_an_empty_root_says_how_to_build(tmp_path):
    with pytest.raises(ConfigurationError, match="paystream lakehouse build"):
        query(tmp_path, "SELECT 1")
    write_deltalake(str(tmp_path / "gold" / "risk_kpis"), pa.table({"day": [1]}))
    with pytest.raises(QueryError, match="nope"):
        query(tmp_path, "SELECT * FROM nope")


@pytest.mark.parametrize(
    "statement",
    [
        "COPY merchant_statements TO '{out}/stolen.csv'",
        "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc/hostname'",
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE merchant_statements",
        "INSERT INTO merchant_statements VALUES ('m9', 'HKD', 1)",
        "SET datafusion.execution.batch_size = 1",
    ],
)
def test_only_queries_run_nothing_writes_or_reads_outside_the_lakehouse(tmp_path, statement):
    table = pa.table({"merchant_id": ["m1"], "currency": ["HKD"], "gross_minor": [1]})
    write_deltalake(str(tmp_path / "gold" / "merchant_statements"), table)
    with pytest.raises(QueryError, match="only queries run here"):
        query(tmp_path, statement.format(out=tmp_path))
    assert not (tmp_path / "stolen.csv").exists()
    assert query(tmp_path, "SELECT count(*) AS n FROM merchant_statements").to_pylist() == [
        {"n": 1}
    ]


def test_with_and_explain_are_queries(tmp_path):
    write_deltalake(str(tmp_path / "gold" / "risk_kpis"), pa.table({"day": [1, 2]}))
    assert query(tmp_path, "WITH d AS (SELECT day FROM risk_kpis) SELECT max(day) AS m FROM d")
    assert query(tmp_path, "EXPLAIN SELECT * FROM risk_kpis").num_rows >= 1
