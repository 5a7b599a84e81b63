"""The ledger's multi-row insert renders every value as the server reads it back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.mysql import DATETIME, insert
from sqlalchemy.exc import IntegrityError

from paystream.stores.mysql import Database
from streams.sinks.ledger import sql

TRICKY = [
    "plain",
    "it's",
    'say "hi"',
    "back\\slash\\",
    "50% off %s %(x)s",
    "line\nbreak\r\ttab",
    "nul\0byte",
    "ctrl-z \x1a",
    "Ünïcödé 漢字 🧾",
    "",
    "'; DROP TABLE t; --",
]


@pytest.fixture
def table(ledger_settings):
    database = Database(ledger_settings)
    metadata = MetaData()
    t = Table(
        "sql_fast_path_probe",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("text", String(200)),
        Column("flag", Boolean),
        Column("ratio", Double),
        Column("at", DATETIME(fsp=6)),
        Column("at_s", DateTime),
        Column("day", Date),
    )
    metadata.create_all(database.writer)
    yield database, t
    metadata.drop_all(database.writer)
    database.dispose()


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "text": TRICKY[i % len(TRICKY)],
            "flag": i % 2 == 0,
            "ratio": None if i % 5 == 0 else i / 7,
            "at": datetime(2011, 12, 9, 12, 50, i % 60, (i * 1000) % 1_000_000),
            "at_s": datetime(2011, 12, 9, 12, 50, i % 60),
            "day": date(2011, 1 + i % 12, 1),
        }
        for i in range(n)
    ]


def read(database, t):
    with database.writer.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]


def test_every_tricky_value_round_trips_through_the_fast_insert(table):
    database, t = table
    written = rows(len(TRICKY) * 3)
    with database.writer.begin() as conn:
        sql.execute_rows(conn, insert(t), written)
    back = read(database, t)
    assert [r["text"] for r in back] == [r["text"] for r in written]
    assert [r["at"] for r in back] == [r["at"] for r in written]
    assert [r["at_s"] for r in back] == [r["at_s"] for r in written]
    assert [r["day"] for r in back] == [r["day"] for r in written]
    assert [r["flag"] for r in back] == [r["flag"] for r in written]
    assert [r["ratio"] is None for r in back] == [r["ratio"] is None for r in written]
    assert [r["ratio"] for r in back if r["ratio"] is not None] == pytest.approx(
        [r["ratio"] for r in written if r["ratio"] is not None]
    )


def test_rows_beyond_one_statement_are_split_and_all_land(table, monkeypatch):
    database, t = table
    monkeypatch.setattr(sql, "MAX_STATEMENT_BYTES", 2_000)
    written = rows(500)
    with database.writer.begin() as conn:
        sql.execute_rows(conn, insert(t), written)
    assert [r["id"] for r in read(database, t)] == list(range(500))


def test_on_duplicate_key_update_takes_the_new_values_and_keeps_one_row(table):
    database, t = table
    stmt = insert(t)
    stmt = stmt.on_duplicate_key_update({"text": stmt.inserted.text})
    with database.writer.begin() as conn:
        sql.execute_rows(conn, stmt, rows(3))
        sql.execute_rows(conn, stmt, [{**r, "text": "second"} for r in rows(3)])
    assert [r["text"] for r in read(database, t)] == ["second"] * 3


def test_a_duplicate_key_in_a_plain_insert_fails_as_an_sqlalchemy_error(table):
    database, t = table
    with database.writer.begin() as conn:
        sql.execute_rows(conn, insert(t), rows(2))
    with pytest.raises(IntegrityError), database.writer.begin() as conn:
        sql.execute_rows(conn, insert(t), rows(1))
    assert len(read(database, t)) == 2
