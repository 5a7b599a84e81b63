"""A SQL endpoint over a given lakehouse, in its own process, for the tests.

It is the real ``paystream lakehouse serve-sql`` command; only the lakehouse root, the port
and the password differ from a user's, through the same settings variables.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose.local.process import free_port


@dataclass(frozen=True)
class Endpoint:
    """A running endpoint: where it listens and the analyst account."""

    port: int
    user: str
    password: str
    log: Path
    pid: int = 0

    def connect(self, password: str | None = None, database: str = "paystream") -> Any:
        """A PyHive connection (``password`` overrides the account's)."""
        from pyhive import hive

        return hive.connect(
            host="127.0.0.1",
            port=self.port,
            username=self.user,
            password=self.password if password is None else password,
            auth="CUSTOM",
            database=database,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one statement, on a connection of its own."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            connection.close()


@contextmanager
def sql_endpoint(
    root: Path,
    log: Path,
    layers: str = "gold",
    timeout_s: float = 240,
    limits: dict[str, str] | None = None,
) -> Iterator[Endpoint]:
    """Run ``paystream lakehouse serve-sql`` over ``root`` until the block ends.

    ``limits`` are ``PAYSTREAM_SQL__*`` settings by lower-case name (``statement_timeout_s``).
    """
    endpoint = Endpoint(free_port(), "analyst", secrets.token_urlsafe(32), log)
    env = {
        **os.environ,
        "PAYSTREAM_LAKEHOUSE__ROOT": str(root),
        "PAYSTREAM_SQL__PORT": str(endpoint.port),
        "PAYSTREAM_SQL__PASSWORD": endpoint.password,
        "PAYSTREAM_SQL__LAYERS": layers,
        "PAYSTREAM_LAKEHOUSE__SPARK_MASTER": "local[2]",
        **{f"PAYSTREAM_SQL__{k.upper()}": v for k, v in (limits or {}).items()},
    }
    paystream = Path(sys.executable).parent / "paystream"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(paystream), "lakehouse", "serve-sql"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(endpoint, proc, timeout_s)
        yield Endpoint(endpoint.port, endpoint.user, endpoint.password, log, proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_ready(endpoint: Endpoint, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve-sql exited ({proc.returncode}); see {endpoint.log}")
        try:
            if endpoint.query("SELECT 1") == [(1,)]:
                return
        except Exception:  # not listening or not accepting logins yet
            time.sleep(1.0)
    raise TimeoutError(f"serve-sql not ready within {timeout_s:.0f} s; see {endpoint.log}")
