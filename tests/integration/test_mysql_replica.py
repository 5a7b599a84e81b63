import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from paystream.stores.mysql import Database


@pytest.fixture
def database(stack, settings):
    db = Database(settings.mysql)
    yield db
    db.dispose()


def test_readers_reach_the_replica_and_writers_the_primary(database, settings):
    writer = Database.identity(database.writer)
    reader = Database.identity(database.reader)
    assert (writer.server_id, writer.port, writer.read_only) == (
        1,
        settings.stack.mysql_primary_port,
        False,
    )
    assert (reader.server_id, reader.port, reader.read_only) == (
        2,
        settings.stack.mysql_replica_port,
        True,
    )


def test_a_row_written_on_the_primary_is_read_back_on_the_replica(database, unique):
    with database.write_session() as session:
        session.execute(text(f"CREATE TABLE {unique} (id BIGINT PRIMARY KEY, amount_minor BIGINT)"))
        session.execute(text(f"INSERT INTO {unique} VALUES (1, 255), (2, 9999)"))
        session.commit()
        position = database.last_commit_position(session)
    assert database.wait_for_replica(position, timeout_s=10)
    with database.read_session() as session:
        rows = session.execute(text(f"SELECT id, amount_minor FROM {unique} ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, 255), (2, 9999)]
    with database.write_session() as session:
        session.execute(text(f"DROP TABLE {unique}"))
        session.commit()


def test_the_replica_refuses_application_writes(database, unique):
    with pytest.raises(OperationalError) as info, database.read_session() as session:
        session.execute(text(f"CREATE TABLE {unique} (id INT)"))
    assert info.value.orig.args[0] == 1290
