"""The local MariaDB accounts and their generated passwords: what SQL gives them, and when.

``paystream stack up`` generates the application's and the replica's passwords into
.stack/secrets.env (:mod:`compose.local.secrets`). The primary's root, reached over its unix
socket, then creates the accounts or, for a data directory bootstrapped with the old fixed
passwords (``paystream``, ``repl-local``), changes them with ``ALTER USER``; the replica is
pointed at the primary with the replication password, or given the new one. The statements
go to the primary's binary log, so the replica's copy of the accounts follows on its own.

Each server's marker file holds a digest of the passwords it was last given, so the statements
run again exactly when a password changed (an old checkout's marker holds ``ok``). The
statements travel on the client's standard input, never on a command line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from compose.local.process import StackError
from paystream.settings import MySQLSettings

APP_USER = "paystream"
REPLICATION_USER = "repl"


def sql_string(value: str) -> str:
    """A single-quoted SQL literal for the root client's session (backslash escapes on).

    Raises:
        StackError: the value holds a NUL or a line break, which no password here needs.
    """
    if any(c in value for c in "\0\n\r"):
        raise StackError("a MariaDB password must not hold NUL or line breaks")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def passwords(mysql: MySQLSettings) -> tuple[str, str]:
    """The application and replication passwords the local accounts must have.

    Raises:
        StackError: one is not set (``stack up`` generates both before it gets here).
    """
    if mysql.password is None or mysql.replication_password is None:
        raise StackError(
            "PAYSTREAM_MYSQL__PASSWORD and PAYSTREAM_MYSQL__REPLICATION_PASSWORD must be set "
            "(`paystream stack up` generates them into .stack/secrets.env)"
        )
    return mysql.password.get_secret_value(), mysql.replication_password.get_secret_value()


def digest(*values: str) -> str:
    """What a marker file keeps of the passwords: a SHA-256, never the passwords themselves."""
    return hashlib.sha256("\0".join(values).encode()).hexdigest()


def needs_update(marker: Path, wanted: str) -> bool:
    """True unless ``marker`` records exactly the passwords ``wanted`` stands for."""
    return not marker.exists() or marker.read_text().strip() != wanted


def primary_statements(app_password: str, replication_password: str) -> str:
    """Create the ledger database and both accounts, or give existing accounts these passwords.

    ``CREATE USER IF NOT EXISTS`` leaves an existing account as it is, so ``ALTER USER``
    follows; together they are one idempotent script for a new and an old data directory.
    """
    app, repl = sql_string(app_password), sql_string(replication_password)
    lines = ["CREATE DATABASE IF NOT EXISTS paystream CHARACTER SET utf8mb4;"]
    for host in ("%", "localhost"):
        account = f"'{APP_USER}'@'{host}'"
        lines += [
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {app};",
            f"ALTER USER {account} IDENTIFIED BY {app};",
            # paystream_* databases too: tests and benchmarks use their own.
            f"GRANT ALL PRIVILEGES ON `paystream%`.* TO {account};",
        ]
    account = f"'{REPLICATION_USER}'@'%'"
    lines += [
        f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {repl};",
        f"ALTER USER {account} IDENTIFIED BY {repl};",
        f"GRANT REPLICATION SLAVE ON *.* TO {account};",
        "FLUSH PRIVILEGES;",
    ]
    return "\n".join(lines)


def replica_statements(primary_port: int, replication_password: str, configured: bool) -> str:
    """Point the replica at the primary (GTID), or, once it is, give it the new password.

    ``CHANGE MASTER TO`` keeps every option it does not name, so a configured replica keeps
    its GTID position and only logs in anew.
    """
    password = f"MASTER_PASSWORD={sql_string(replication_password)}"
    if configured:
        change = f"CHANGE MASTER TO {password};"
    else:
        change = (
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={int(primary_port)}, "
            f"MASTER_USER='{REPLICATION_USER}', {password}, "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;"
        )
    return f"STOP SLAVE;\n{change}\nSTART SLAVE;"
