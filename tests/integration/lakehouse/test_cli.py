"""The CLI over a built lakehouse: analyst SQL without a JVM, table care, clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from lakehouse.care import optimize, vacuum
from lakehouse.jobs import check_kafka, check_replica
from lakehouse.paths import LakePaths
from paystream.errors import ServiceUnavailableError

pytestmark = pytest.mark.integration


def test_paystream_sql_queries_gold_by_table_name_as_json(lake, monkeypatch):
    monkeypatch.setenv("PAYSTREAM_LAKEHOUSE__ROOT", lake.root)
    from paystream.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            [
                "sql",
                "SELECT currency, SUM(gross_minor) AS gross FROM merchant_statements "
                "WHERE granularity = 'month' GROUP BY currency ORDER BY currency",
                "--format",
                "json",
            ],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all(r["gross"] > 0 for r in rows)


def test_optimize_and_vacuum_keep_every_row(spark, lake):
    paths = LakePaths.of(lake.root)
    path = lake.table("gold", "customer_payment_history")
    before = spark.read.format("delta").load(path).count()
    only = frozenset({"customer_payment_history"})
    (result,) = optimize(spark, paths, ("gold",), only)
    assert result.detail.startswith("z-order customer_id,merchant_id")
    vacuum(spark, paths, 168, ("gold",), only)
    assert spark.read.format("delta").load(path).count() == before


def test_a_stopped_service_is_named_with_the_command_that_starts_it(settings):
    down = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"}),
            "mysql": settings.mysql.model_copy(
                update={
                    "replica_url": type(settings.mysql.replica_url)(
                        "mysql+pymysql://u:p@127.0.0.1:1/paystream"
                    )
                }
            ),
        }
    )
    with pytest.raises(ServiceUnavailableError, match="Kafka.*paystream stack up"):
        check_kafka(down)
    with pytest.raises(ServiceUnavailableError, match="MySQL.*paystream stack up"):
        check_replica(down)
