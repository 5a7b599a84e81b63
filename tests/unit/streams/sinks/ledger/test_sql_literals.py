"""The ledger's hand-rendered SQL literals are, byte for byte, what PyMySQL itself sends.

``streams.sinks.ledger.sql`` quotes values without the driver's per-value dispatch, for speed.
These properties hold it to the driver (``Connection.escape``, the function PyMySQL's
``cursor.execute`` quotes parameters with) over any text: every Unicode character, lone
surrogates included, control characters, quotes and backslashes, with and without the
server's ``NO_BACKSLASH_ESCAPES`` (PyMySQL reads it from ``server_status``).

Lone surrogates have no UTF-8 (utf8mb4) form. The renderer leaves them in the text, as the
driver's escaping does, so that the statement fails where the driver's own would: encoding it
for the wire raises ``UnicodeEncodeError`` before a byte is sent. The stream never gets that
far: a record holding one is refused at parsing (the last tests here).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql import converters
from pymysql.connections import Connection
from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, MetaData, Table, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import insert

from streams.sinks.ledger.sql import _literals, execute_rows
from streams.validation import RawRecord, validate

MODES = {"backslash escapes": 0, "NO_BACKSLASH_ESCAPES": SERVER_STATUS_NO_BACKSLASH_ESCAPES}
#: Any code point at all (surrogates too), and the characters escaping is about, often.
hostile_text = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from("'\"\\\0\n\r\t\x1a\x08%_`;-#/*"),
        st.characters(max_codepoint=0x1F),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    ),
    max_size=40,
)
scalars = st.one_of(
    hostile_text,
    st.integers(min_value=-(2**63), max_value=2**64),
    st.booleans(),
    st.none(),
    st.datetimes(),
    st.dates(),
)


def driver(mode: str) -> Connection:
    """A PyMySQL connection never opened, in the given quoting mode (as the server sets it)."""
    connection = Connection(defer_connect=True, charset="utf8mb4")
    connection.server_status = MODES[mode]
    return connection


def wire(text: str, connection: Connection) -> bytes | type[Exception]:
    """What the driver puts on the wire for a statement: its bytes, or the error it raises."""
    try:
        return text.encode(connection.encoding)
    except UnicodeEncodeError:
        return UnicodeEncodeError


@pytest.mark.parametrize("mode", MODES)
@given(value=hostile_text)
def test_a_string_literal_is_the_drivers_escape_byte_for_byte(mode, value):
    connection = driver(mode)
    ours = _literals(connection)(value)
    assert ours == connection.escape(value)
    assert wire(ours, connection) == wire(connection.escape(value), connection)


@given(value=hostile_text)
def test_backslash_mode_matches_pymysqls_escape_str_and_escape_string(value):
    ours = _literals(driver("backslash escapes"))(value)
    assert ours == converters.escape_str(value) == "'" + converters.escape_string(value) + "'"


@given(value=hostile_text)
def test_no_backslash_mode_doubles_quotes_and_leaves_backslashes(value):
    assert _literals(driver("NO_BACKSLASH_ESCAPES"))(value) == "'" + value.replace("'", "''") + "'"


@pytest.mark.parametrize("mode", MODES)
@given(row=st.lists(scalars, min_size=1, max_size=8))
def test_a_row_of_any_values_renders_as_the_driver_renders_its_parameters(mode, row):
    connection = driver(mode)
    literal = _literals(connection)
    ours = "(" + ",".join(literal(v) for v in row) + ")"
    theirs = connection.cursor().mogrify("(" + ",".join(["%s"] * len(row)) + ")", row)
    assert ours == theirs
    assert wire(ours, connection) == wire(theirs, connection)


def test_a_lone_surrogate_fails_to_encode_in_both_paths_and_a_pair_does_not():
    for mode in MODES:
        connection = driver(mode)
        for value in ("a\ud800b", "\udfff", "x\ud83d"):
            assert wire(_literals(connection)(value), connection) is UnicodeEncodeError
        assert wire(_literals(connection)("🧾"), connection) == "'🧾'".encode()


# -- the statement execute_rows sends ----------------------------------------------------------

TABLE = Table(
    "probe",
    MetaData(),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("text", Text),
    Column("flag", Boolean),
    Column("at", DateTime),
    Column("day", Date),
)


def recording_connection(connection: Connection) -> tuple[Any, list[str]]:
    """Enough of a SQLAlchemy Connection for execute_rows, recording what it executes."""
    dialect = mysql.pymysql.dialect(paramstyle="pyformat")
    dialect.server_version_info = (10, 11, 6)
    dialect.is_mariadb = True
    sent: list[str] = []
    conn = SimpleNamespace(
        dialect=dialect,
        connection=SimpleNamespace(dbapi_connection=connection),
        exec_driver_sql=lambda sql, execution_options: sent.append(sql),
    )
    return conn, sent


@pytest.mark.parametrize("mode", MODES)
@given(
    rows=st.lists(
        st.tuples(hostile_text, st.booleans(), st.datetimes(), st.dates()), min_size=1, max_size=5
    )
)
def test_execute_rows_sends_the_drivers_rendering_of_every_row(mode, rows):
    connection = driver(mode)
    conn, sent = recording_connection(connection)
    values = [
        {"id": i, "text": text, "flag": flag, "at": at, "day": day}
        for i, (text, flag, at, day) in enumerate(rows)
    ]
    execute_rows(conn, insert(TABLE), values)
    [statement] = sent
    cursor = connection.cursor()
    expected = ",".join(
        cursor.mogrify("(%s,%s,%s,%s,%s)", (v["id"], v["text"], v["flag"], v["at"], v["day"]))
        for v in values
    )
    assert statement == f"INSERT INTO probe (id, text, flag, at, day) VALUES {expected}"


# -- the stream never hands the ledger a lone surrogate ---------------------------------------

SURROGATE_ESCAPES = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")


def customer_record(country_json: str) -> bytes:
    head = json.dumps(
        {
            "event_type": "customer.registered",
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-03-01T12:00:00Z",
            "customer_id": "c-1",
        }
    )
    # The country is spliced in as raw JSON text, escapes and all.
    return (head[:-1] + ', "country": "' + country_json + '"}').encode()


@given(
    before=st.text(st.characters(codec="ascii", exclude_characters='"\\'), max_size=5),
    escape=SURROGATE_ESCAPES,
)
def test_a_record_with_a_lone_surrogate_escape_is_a_dead_letter(before, escape):
    outcome = validate(RawRecord("customers", 0, 0, customer_record(before + escape)))
    assert getattr(outcome, "reason", None) == "malformed_json"


@given(code=st.integers(0xD800, 0xDFFF))
def test_a_record_with_a_utf8_encoded_surrogate_is_a_dead_letter(code):
    raw = customer_record("x").replace(
        b'"x"', b'"' + chr(code).encode("utf-8", "surrogatepass") + b'"'
    )
    assert getattr(validate(RawRecord("customers", 0, 0, raw)), "reason", None) == "malformed_json"


@given(country=st.text(min_size=1, max_size=64))
def test_every_string_of_a_valid_event_encodes_to_utf8(country):
    # st.text() has no surrogates; a surrogate pair escape reaches the event as one character.
    raw = customer_record(json.dumps(country)[1:-1])
    outcome = validate(RawRecord("customers", 0, 0, raw))
    event = getattr(outcome, "event", None)
    if event is not None:
        assert event.country == country
        event.country.encode("utf-8")


def test_a_surrogate_pair_escape_is_the_character_it_encodes():
    outcome = validate(RawRecord("customers", 0, 0, customer_record("\\ud83e\\uddfe")))
    assert outcome.event.country == "🧾"  # type: ignore[union-attr]


def test_values_of_other_types_are_the_drivers_too():
    for mode in MODES:
        connection = driver(mode)
        literal = _literals(connection)
        for value in (0, -(2**63), True, None, datetime(999, 1, 2, 3, 4, 5, 6), date(1, 1, 1), 1.5):
            assert literal(value) == connection.escape(value)


@pytest.mark.parametrize("mode", MODES)
@given(moment=st.datetimes(timezones=st.timezones()))
def test_an_aware_datetime_is_refused_rather_than_rendered_with_its_offset(mode, moment):
    # On main it became '... +05:00', a value strict MariaDB refuses and the driver would
    # have stored as wall time: every ledger writer passes naive UTC (naive_utc).
    with pytest.raises(ValueError, match="naive UTC"):
        _literals(driver(mode))(moment)
