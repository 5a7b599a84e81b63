"""How the ledger's fast insert splits a compiled statement, on MariaDB and on MySQL 8."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import insert

from paystream.ledger.models import OrderLine
from streams.sinks.ledger.sql import split_insert


def compiled(server: tuple[int, ...], mariadb: bool) -> str:
    # As an engine's dialect is once it has met the server (initialize() sets these).
    dialect = mysql.pymysql.dialect(paramstyle="pyformat")
    dialect.server_version_info = server
    dialect.is_mariadb = mariadb
    dialect._requires_alias_for_on_duplicate_key = not mariadb and server >= (8, 0, 20)
    stmt = insert(OrderLine)
    stmt = stmt.on_duplicate_key_update({"quantity": stmt.inserted.quantity})
    return stmt.compile(dialect=dialect, column_keys=["order_id", "line_no", "quantity"]).string


@pytest.mark.parametrize(
    ("server", "mariadb", "update"),
    [
        ((10, 11, 6), True, "VALUES(quantity)"),
        ((8, 0, 36), False, "new.quantity"),
    ],
)
def test_the_rows_go_between_the_insert_and_its_update_clause(server, mariadb, update):
    head, columns, tail = split_insert(compiled(server, mariadb))
    assert head.startswith("INSERT INTO order_lines (") and head.endswith("VALUES ")
    assert columns == ["order_id", "line_no", "quantity"]
    assert "ON DUPLICATE KEY UPDATE" in tail and update in tail
    assert "%(" not in head + tail


def test_a_statement_with_other_parameters_is_refused():
    with pytest.raises(ValueError, match="not a plain multi-row INSERT"):
        split_insert("INSERT INTO t (a) VALUES (%(a)s) ON DUPLICATE KEY UPDATE a = %(b)s")
