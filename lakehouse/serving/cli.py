"""``paystream lakehouse serve-sql``: the SQL endpoint for BI tools, in the foreground."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paystream.settings import get_settings

console = Console()


def serve_sql(
    port: Annotated[
        int | None, typer.Option(help="Port (default PAYSTREAM_SQL__PORT, 10000).")
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(help="Layers served as tables: gold, or gold,silver (PAYSTREAM_SQL__LAYERS)."),
    ] = None,
) -> None:
    """Serve gold (and optionally silver) to BI tools over JDBC/ODBC until stopped.

    Spark's Thrift server speaks HiveServer2, as Power BI's Spark connector, Tableau,
    Superset and DBeaver expect (docs/bi.md). It is read-only and asks for the analyst
    account: PAYSTREAM_SQL__USER (analyst) and PAYSTREAM_SQL__PASSWORD, which `paystream
    stack up` writes to .stack/secrets.env. Tables are registered at start-up: restart it
    after a build adds a table (new rows in existing tables show up by themselves).
    """
    from lakehouse.serving.endpoint import DATABASE, jdbc_url, start

    settings = get_settings()
    changes = {k: v for k, v in {"port": port, "layers": layers}.items() if v is not None}
    if changes:
        settings = settings.model_copy(update={"sql": settings.sql.model_copy(update=changes)})
    with console.status("starting Spark and the Thrift server…"):
        spark, tables = start(settings)
    out = Table("table", "layer", title=f"database {DATABASE}")
    for table in tables:
        out.add_row(table.name, table.layer)
    console.print(out)
    console.print(f"SQL endpoint ready: {jdbc_url(settings)} (read-only; Ctrl-C stops it)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        spark.stop()
