"""The ledger's hand-rendered literals round-trip through MariaDB, under both quoting modes.

Random text (every Unicode scalar value, control characters, quotes, backslashes, ``%``) goes
through ``execute_rows`` into a temporary table and is read back unchanged, with the
session's ``sql_mode`` with and without ``NO_BACKSLASH_ESCAPES``. A lone surrogate, which has
no utf8mb4 form, fails in the fast path exactly as in the driver's own parameter path, and
nothing of the statement is stored.
"""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, select, text
from sqlalchemy.dialects.mysql import insert

from paystream.stores.mysql import primary_engine
from streams.sinks.ledger import sql

pytestmark = pytest.mark.integration

#: Any Unicode scalar value (utf-8: no surrogates), and the characters quoting is about, often.
stored_text = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("'\"\\\0\n\r\t\x1a\x08%_`;#"),
        st.characters(max_codepoint=0x1F),
    ),
    max_size=60,
)
MODES = {
    "backslash escapes": "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
    "NO_BACKSLASH_ESCAPES": "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
}
metadata = MetaData()
# Binary collation: the text comes back exactly as stored, nothing folded or trimmed.
PROBE = Table(
    "ledger_literal_probe",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Text(collation="utf8mb4_bin")),
    prefixes=["TEMPORARY"],
    mysql_charset="utf8mb4",
)


@pytest.fixture(scope="module", params=list(MODES))
def session(request, stack, settings):
    """One connection (a temporary table lives in its session) in one quoting mode."""
    engine = primary_engine(settings.mysql)
    with engine.connect() as conn:
        conn.execute(text(MODES[request.param]))
        no_backslash = conn.connection.dbapi_connection.server_status  # type: ignore[union-attr]
        # The driver learns the mode from the server's status flags, as the renderer does.
        assert bool(no_backslash & SERVER_STATUS_NO_BACKSLASH_ESCAPES) == (
            request.param == "NO_BACKSLASH_ESCAPES"
        )
        metadata.create_all(conn)
        conn.commit()
        yield conn
        metadata.drop_all(conn)
        conn.commit()
    engine.dispose()


def stored(conn) -> list[str]:
    return [row.value for row in conn.execute(select(PROBE.c.value).order_by(PROBE.c.id))]


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(stored_text, min_size=1, max_size=8))
def test_any_text_reads_back_unchanged_through_the_fast_insert(session, values):
    session.execute(PROBE.delete())
    sql.execute_rows(session, insert(PROBE), [{"id": i, "value": v} for i, v in enumerate(values)])
    session.commit()
    assert stored(session) == values


def test_the_tricky_ones_read_back_unchanged_too(session):
    values = [
        "it's",
        "\\'",
        "\\",
        "'\\",
        "\0\x1a\n\r",
        "%s %(x)s",
        "🧾 漢字",
        "\U0010ffff\ufffe",
        "",
    ]
    session.execute(PROBE.delete())
    sql.execute_rows(session, insert(PROBE), [{"id": i, "value": v} for i, v in enumerate(values)])
    session.commit()
    assert stored(session) == values


@pytest.mark.parametrize("value", ["a\ud800b", "\udfff", "end\ud83d"])
def test_a_lone_surrogate_fails_as_in_the_driver_and_stores_nothing(session, value):
    session.execute(PROBE.delete())
    session.commit()
    with pytest.raises(UnicodeEncodeError):
        sql.execute_rows(
            session, insert(PROBE), [{"id": 1, "value": "ok"}, {"id": 2, "value": value}]
        )
    session.rollback()
    with pytest.raises(UnicodeEncodeError):
        session.execute(insert(PROBE), {"id": 3, "value": value})
    session.rollback()
    assert stored(session) == []


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(stored_text, min_size=1, max_size=8, unique=True), probe=stored_text)
def test_a_rendered_in_list_finds_exactly_what_the_bound_one_finds(session, values, probe):
    session.execute(PROBE.delete())
    sql.execute_rows(session, insert(PROBE), [{"id": i, "value": v} for i, v in enumerate(values)])
    keys = [*values[::2], probe]
    fast = select(PROBE.c.id).where(sql.in_values(session, (PROBE.c.value,), keys))
    bound = select(PROBE.c.id).where(PROBE.c.value.in_(keys))
    assert sorted(session.execute(fast).scalars()) == sorted(session.execute(bound).scalars())
    session.rollback()


def test_a_rendered_tuple_in_list_matches_on_both_columns(session):
    rows = [{"id": i, "value": v} for i, v in enumerate(["a'b", "c\\d", "e%f:x"])]
    session.execute(PROBE.delete())
    sql.execute_rows(session, insert(PROBE), rows)
    keys = [(0, "a'b"), (1, "a'b"), (2, "e%f:x")]
    found = select(PROBE.c.id).where(sql.in_values(session, (PROBE.c.id, PROBE.c.value), keys))
    assert sorted(session.execute(found).scalars()) == [0, 2]
    session.rollback()
