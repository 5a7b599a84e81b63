"""SQL helpers every ledger writer uses: UTC datetimes and fast multi-row inserts.

A batch of Online Retail writes about 26,000 order lines. Through SQLAlchemy's executemany,
PyMySQL quotes every value with a generic per-value dispatch, and SQLAlchemy processes every
parameter set before that: together about a third of the ledger worker's time (py-spy,
``docs/streams.md``). :func:`execute_rows` therefore lets SQLAlchemy compile the statement
once for the connection's dialect (so MariaDB gets ``VALUES(col)`` and MySQL 8 its row alias),
and renders the rows' literals itself, with one quoting function per Python type, into as
few statements as the server's packet size allows.

Every literal is, byte for byte, the one PyMySQL's own ``Connection.escape`` makes, in both of
the server's quoting modes (with and without ``NO_BACKSLASH_ESCAPES``): property tests hold
the two together over any text, and an integration test reads random text back from MariaDB
in both modes (``tests/unit/streams/sinks/ledger/test_sql_literals.py``,
``tests/integration/streams/test_ledger_sql_literals.py``). A lone surrogate, which has no
utf8mb4 form, stays in the text as the driver leaves it, so the statement fails where the
driver's would: encoding it for the wire raises ``UnicodeEncodeError`` before anything is
sent. Events never hold one: the contracts' JSON parser refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from sqlalchemy import Boolean, Column, ColumnElement, Connection, literal_column
from sqlalchemy.dialects.mysql import Insert, insert

# PyMySQL's own ceiling for one multi-row statement; far below max_allowed_packet (16 MB on
# MariaDB, 64 MB on MySQL 8), so a statement never needs a server setting changed.
MAX_STATEMENT_BYTES = 1_024_000
_VALUES = re.compile(r"\bVALUES\s*\((\s*%\(\w+\)s\s*(?:,\s*%\(\w+\)s\s*)*)\)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# MySQL string-literal escapes (PyMySQL's table): backslash, quotes, NUL, newline, ^Z.
_ESCAPES = {
    ord("\\"): "\\\\",
    ord("\0"): "\\0",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\032"): "\\Z",
    ord('"'): '\\"',
    ord("'"): "\\'",
}


def naive_utc(value: datetime | None) -> datetime | None:
    """A DATETIME column's value: UTC without a zone (MySQL drivers reject aware datetimes)."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _quote(value: str) -> str:
    return "'" + value.translate(_ESCAPES) + "'"


def _quote_no_backslash(value: str) -> str:
    # Under NO_BACKSLASH_ESCAPES a backslash is an ordinary character; only quotes double.
    return "'" + value.replace("'", "''") + "'"


def _datetime(value: datetime) -> str:
    # Naive UTC (see naive_utc); isoformat matches PyMySQL's rendering, microseconds included.
    # An aware value would render with its offset, which MariaDB refuses in strict mode (and
    # the driver would drop, storing wall time): a caller that forgot naive_utc fails here.
    if value.tzinfo is not None:
        raise ValueError(f"a DATETIME value must be naive UTC (naive_utc), not {value!r}")
    return "'" + value.isoformat(" ") + "'"


def _literals(dbapi: Any) -> Callable[[Any], str]:
    """A function rendering one value as a SQL literal for this DBAPI connection."""
    no_backslash = dbapi.server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES
    quote = _quote_no_backslash if no_backslash else _quote
    by_type: dict[type, Callable[[Any], str]] = {
        str: quote,
        int: str,
        bool: lambda v: "1" if v else "0",
        type(None): lambda _: "NULL",
        datetime: _datetime,
        date: lambda v: "'" + v.isoformat() + "'",
    }
    # Anything else (floats, decimals) goes through the driver's own escaping.
    fallback: Callable[[Any], str] = dbapi.escape

    def literal(value: Any) -> str:
        render = by_type.get(type(value))
        return render(value) if render is not None else fallback(value)

    return literal


def in_values(
    conn: Connection, columns: Sequence[Column[Any]], keys: Iterable[Any]
) -> ColumnElement[bool]:
    """``col IN (...)``, or ``(a, b) IN ((...), ...)`` for tuple ``keys``, rendered as literals.

    The same condition as ``column.in_(keys)``, for a lookup of a batch's thousand keys: the
    expanding parameter costs SQLAlchemy's literal processing and then the driver's escaping
    per key, a few percent of the ledger worker's batch time; here each key is rendered once
    by the quoting :func:`execute_rows` uses. ``keys`` must not be empty.

    A literal column, not ``text()``: ``text`` would read a key's ``:name`` as a parameter.
    """
    literal = _literals(conn.connection.dbapi_connection)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in columns)
    if len(columns) == 1:
        rendered = ",".join([literal(k) for k in keys])
        return literal_column(f"{names} IN ({rendered})", Boolean)
    rendered = ",".join(["(" + ",".join([literal(v) for v in k]) + ")" for k in keys])
    return literal_column(f"({names}) IN ({rendered})", Boolean)


def split_insert(sql: str) -> tuple[str, list[str], str]:
    """Split a compiled one-row ``INSERT`` into the text before its rows, the column names of
    its ``VALUES`` tuple in order, and the text after (``AS new ON DUPLICATE KEY ...``).

    Raises:
        ValueError: the statement has parameters outside its ``VALUES`` tuple.
    """
    match = _VALUES.search(sql)
    if match is None or set(_PLACEHOLDER.findall(sql)) != set(_PLACEHOLDER.findall(match[1])):
        raise ValueError(f"not a plain multi-row INSERT: {sql[:200]}")
    return sql[: match.start()] + "VALUES ", _PLACEHOLDER.findall(match[1]), sql[match.end() :]


def execute_rows(conn: Connection, stmt: Insert, rows: list[dict[str, Any]]) -> None:
    """Execute a single-table ``INSERT`` (with any ``ON DUPLICATE KEY UPDATE``) for many rows.

    Every row must have the same keys. The work stays inside ``conn``'s transaction.

    Raises:
        ValueError: the compiled statement has parameters besides the rows' values.
    """
    if not rows:
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    head, order, tail = split_insert(compiled.string)
    table = stmt.table
    # Column types that convert values on the way in (none today) still get their say.
    processors = [table.c[name].type.bind_processor(conn.dialect) for name in order]
    literal = _literals(conn.connection.dbapi_connection)
    # Without parameters the driver sends the text as it is (a '%' in a value stays a '%'),
    # and SQLAlchemy still wraps driver errors, so a deadlock is retried like any other.
    options = {"no_parameters": True}
    chunk: list[str] = []
    size = len(head) + len(tail)
    for row in rows:
        values = [row[name] for name in order]
        for i, process in enumerate(processors):
            if process is not None:
                values[i] = process(values[i])
        text = "(" + ",".join([literal(v) for v in values]) + ")"
        if chunk and size + len(text) + 1 > MAX_STATEMENT_BYTES:
            conn.exec_driver_sql(head + ",".join(chunk) + tail, execution_options=options)
            chunk, size = [], len(head) + len(tail)
        chunk.append(text)
        size += len(text) + 1
    conn.exec_driver_sql(head + ",".join(chunk) + tail, execution_options=options)


def upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], update: Iterable[str]) -> None:
    """``INSERT ... ON DUPLICATE KEY UPDATE`` for many rows in as few statements as fit.

    With ``update`` empty the first write of a key wins and a repeat is a no-op; otherwise the
    named columns take the new values. Either way the same rows written twice leave one row.
    """
    if not rows:
        return
    stmt = insert(table.__table__)
    columns = list(update)
    if columns:
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    else:
        # Keep the first write: a no-op update of the key on conflict.
        key = table.__table__.primary_key.columns.values()[0].name
        stmt = stmt.on_duplicate_key_update({key: stmt.inserted[key]})
    execute_rows(conn, stmt, rows)
