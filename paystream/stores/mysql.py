"""MySQL adapter: a writer engine on the primary and a reader engine on the replica.

Read-your-writes: a writer that needs a reader to see its commit takes the commit's GTID
from the primary and waits, with a bound, until the replica has applied it. The GTID
functions differ between MariaDB (``@@last_gtid`` / ``MASTER_GTID_WAIT``) and MySQL 8, the
Azure flavour (``@@gtid_executed`` / ``WAIT_FOR_EXECUTED_GTID_SET``); that difference lives
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from paystream.errors import ServiceUnavailableError
from paystream.settings import MySQLSettings


@dataclass(frozen=True)
class ServerIdentity:
    """Which server a connection reached."""

    server_id: int
    port: int
    read_only: bool
    flavour: str  # "mariadb" or "mysql"


def replica_engine(settings: MySQLSettings, *, fail_fast: bool = False) -> Engine:
    """An engine on the read replica, for reader services (the API, the lakehouse pull).

    Args:
        fail_fast: connect and read timeouts of a few seconds, so a replica that is down turns
            a request into a 503 instead of a hang (what the API wants).
    """
    return _engine(settings.replica_url.get_secret_value(), settings.pool_size, fail_fast)


def primary_engine(settings: MySQLSettings) -> Engine:
    """An engine on the primary, for writers (the ledger worker, migrations, harnesses)."""
    return _engine(settings.primary_url.get_secret_value(), settings.pool_size, False)


def _engine(url: str, pool_size: int, fail_fast: bool) -> Engine:
    connect_args = {"connect_timeout": 3, "read_timeout": 10} if fail_fast else {}
    return create_engine(
        url, pool_size=pool_size, pool_pre_ping=True, pool_recycle=3600, connect_args=connect_args
    )


class Database:
    """The ledger's two engines and their session factories. Create once per process."""

    def __init__(self, settings: MySQLSettings) -> None:
        self.settings = settings
        self.writer: Engine = primary_engine(settings)
        self.reader: Engine = replica_engine(settings)
        self.writer_sessions = sessionmaker(self.writer, expire_on_commit=False)
        self.reader_sessions = sessionmaker(self.reader, expire_on_commit=False)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.writer.dispose()
        self.reader.dispose()

    def write_session(self) -> Session:
        """A session bound to the primary."""
        return self.writer_sessions()

    def read_session(self) -> Session:
        """A session bound to the read replica."""
        return self.reader_sessions()

    @staticmethod
    def identity(engine: Engine) -> ServerIdentity:
        """Server id, port and read-only flag of the server an engine reaches.

        Raises:
            ServiceUnavailableError: the server cannot be reached.
        """
        try:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT @@server_id, @@port, @@read_only, VERSION()")).one()
        except OperationalError as exc:
            where = f"{engine.url.host}:{engine.url.port}"
            raise ServiceUnavailableError("MySQL", where, str(exc.orig)[:120]) from exc
        flavour = "mariadb" if "mariadb" in str(row[3]).lower() else "mysql"
        return ServerIdentity(int(row[0]), int(row[1]), bool(row[2]), flavour)

    def primary_position(self) -> str:
        """GTID position of everything the primary has committed so far (any connection)."""
        flavour = self.identity(self.writer).flavour
        query = "SELECT @@gtid_binlog_pos" if flavour == "mariadb" else "SELECT @@gtid_executed"
        with self.writer.connect() as conn:
            return str(conn.execute(text(query)).scalar_one() or "")

    def last_commit_position(self, session: Session) -> str:
        """GTID (set) of the last commit made in ``session``'s connection on the primary."""
        if self.identity(self.writer).flavour == "mariadb":
            return str(session.execute(text("SELECT @@last_gtid")).scalar_one())
        return str(session.execute(text("SELECT @@gtid_executed")).scalar_one())

    def wait_for_replica(self, position: str, timeout_s: float | None = None) -> bool:
        """Block until the replica applied ``position``; False if the bound ran out."""
        timeout = self.settings.replica_wait_timeout_s if timeout_s is None else timeout_s
        if not position:
            return True
        with self.reader.connect() as conn:
            if self.identity(self.reader).flavour == "mariadb":
                sql = text("SELECT MASTER_GTID_WAIT(:pos, :timeout)")
            else:
                sql = text("SELECT WAIT_FOR_EXECUTED_GTID_SET(:pos, :timeout)")
            return bool(conn.execute(sql, {"pos": position, "timeout": timeout}).scalar_one() == 0)
