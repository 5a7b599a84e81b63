"""The SQL endpoint for BI tools: a real HiveServer2 client against `paystream lakehouse
serve-sql` over the built lakehouse, compared with `paystream sql` (delta-rs)."""

from __future__ import annotations

import time

import pytest

from lakehouse.sql import query
from tests.support.sockets import LOOPBACK, listening_sockets
from tests.support.sql_endpoint import sql_endpoint

pytestmark = pytest.mark.integration

STATEMENTS = (
    "SELECT currency, SUM(gross_minor) AS gross, SUM(refunds_minor) AS refunds, "
    "SUM(payment_count) AS payments FROM merchant_statements "
    "WHERE granularity = 'month' GROUP BY currency ORDER BY currency"
)


#: The endpoint's limits in these tests: small, so they bind quickly.
ROW_CAP = 50
#: The first statements of a cold JVM on a loaded 2-core machine take seconds: 20 s is short
#: beside a runaway query and long beside an honest one.
TIMEOUT_S = 20
LIMITS = {"statement_timeout_s": str(TIMEOUT_S), "max_result_rows": str(ROW_CAP)}


@pytest.fixture(scope="module")
def endpoint(lake, tmp_path_factory):
    log = tmp_path_factory.mktemp("sql-endpoint") / "serve-sql.log"
    root = lake.settings.lakehouse.root
    with sql_endpoint(root, log, layers="gold,silver", limits=LIMITS) as running:
        yield running


def test_a_gold_query_over_hiveserver2_equals_the_same_query_through_paystream_sql(endpoint, lake):
    over_thrift = endpoint.query(STATEMENTS)
    direct = query(lake.settings.lakehouse.root, STATEMENTS).to_pylist()
    assert over_thrift == [tuple(row.values()) for row in direct]
    # Money stays integer minor units over the wire: nothing turned into a float.
    assert over_thrift and all(isinstance(v, int) for row in over_thrift for v in row[1:])


def test_gold_and_silver_tables_are_listed_in_the_paystream_database(endpoint):
    tables = {row[1] for row in endpoint.query("SHOW TABLES IN paystream")}
    assert {"merchant_statements", "customer_payment_history", "payments"} <= tables
    columns = [row[0] for row in endpoint.query("DESCRIBE merchant_statements")]
    assert {"merchant_id", "currency", "gross_minor"} <= set(columns)


def test_a_wrong_password_is_refused(endpoint):
    with pytest.raises(Exception, match="Error validating the login"):
        endpoint.connect(password="not-the-password-of-this-endpoint")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO merchant_statements SELECT * FROM merchant_statements LIMIT 1",
        "DELETE FROM payments",
        "DROP TABLE merchant_statements",
        "CREATE TABLE stolen USING delta AS SELECT * FROM payments",
        "SET spark.sql.runSQLOnFiles=true",
        "SELECT reflect('java.lang.System', 'getProperty', 'user.home')",
        "ADD JAR /tmp/anything.jar",
        "CACHE TABLE payments",
    ],
)
def test_every_write_ddl_or_escape_is_refused_and_the_data_is_unchanged(endpoint, statement):
    before = endpoint.query("SELECT COUNT(*) FROM payments")
    with pytest.raises(Exception, match="read-only|not allowed|TABLE_OR_VIEW_NOT_FOUND"):
        endpoint.query(statement)
    assert endpoint.query("SELECT COUNT(*) FROM payments") == before


def test_reading_files_by_path_is_off(endpoint, lake):
    location = lake.table("gold", "merchant_statements")
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND|UNSUPPORTED_DATASOURCE|not"):
        endpoint.query(f"SELECT * FROM delta.`{location}`")


def test_a_runaway_query_is_cancelled_at_the_statement_timeout_and_the_endpoint_still_answers(
    endpoint,
):
    started = time.monotonic()
    with pytest.raises(Exception, match="(?i)cancel|timedout|timeout|timed out"):
        # Hours of work on two cores, were it not cancelled.
        endpoint.query("SELECT count(*) FROM range(10000000000000)")
    # The rest is cancellation and a loaded 2-core machine.
    assert time.monotonic() - started < TIMEOUT_S + 60
    assert endpoint.query("SELECT 1") == [(1,)]


def test_results_are_cut_at_the_row_cap_but_subqueries_and_smaller_limits_are_not(endpoint):
    assert len(endpoint.query("SELECT id FROM range(1000)")) == ROW_CAP
    assert len(endpoint.query("SELECT id FROM range(1000) ORDER BY id DESC LIMIT 7")) == 7
    # A cap inside IN (SELECT ...) would change the answer: only the result is cut.
    counted = endpoint.query(
        "SELECT count(*) FROM range(1000) WHERE id IN (SELECT id FROM range(500))"
    )
    assert counted == [(500,)]
    [(total,)] = endpoint.query("SELECT count(*) FROM customer_payment_history")
    rows = endpoint.query("SELECT payment_id FROM customer_payment_history")
    assert total > ROW_CAP and len(rows) == ROW_CAP


def test_every_port_the_endpoint_listens_on_is_on_loopback(endpoint):
    listening = listening_sockets(endpoint.pid)
    assert endpoint.port in {port for _, port in listening}
    # The Thrift server, the driver's RPC, its block manager and py4j: loopback only.
    assert listening and all(address in LOOPBACK for address, _ in listening), listening
