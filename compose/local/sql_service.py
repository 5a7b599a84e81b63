"""The optional SQL endpoint of the local stack (``paystream stack up --with sql``).

It runs ``paystream lakehouse serve-sql`` (Spark's Thrift server over gold), so it needs a
built lakehouse: ``make demo`` starts it as its last step. It is healthy once the analyst
account logs in over HiveServer2 and a query answers.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from compose.local.process import port_in_use
from compose.local.services import Service


class SqlEndpoint(Service):
    """The lakehouse's read-only SQL endpoint for BI tools."""

    name = "sql"
    optional = True
    # javac compiles the endpoint's two Java classes on first start.
    tools = ("java", "javac", "jar")
    start_timeout_s = 180.0

    @property
    def port(self) -> int:
        return self.settings.sql.port

    def argv(self) -> list[str]:
        paystream = Path(sys.executable).parent / "paystream"
        return [str(paystream), "lakehouse", "serve-sql"]

    def healthy(self) -> bool:
        if not port_in_use(self.port):
            return False
        from pyhive import hive

        # PyHive logs every statement at INFO; a health check every 0.3 s is not news.
        logging.getLogger("pyhive").setLevel(logging.WARNING)
        sql = self.settings.sql
        try:
            connection = hive.connect(
                host=sql.host,
                port=sql.port,
                username=sql.user,
                password=sql.require_password(),
                auth="CUSTOM",
            )
        except Exception:  # still starting: refused, reset or not yet listening for logins
            return False
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            return bool(cursor.fetchall() == [(1,)])
        except Exception:
            return False
        finally:
            connection.close()
