"""``paystream lakehouse``: build the Delta lakehouse, look after its tables, and serve it to
BI tools."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.commands.render import (
    build_lakehouse,
    console,
    print_arrow,
    print_gold_reconciliation,
    start_spark,
)
from paystream.settings import get_settings

app = typer.Typer(
    help="The Delta lakehouse: bronze (Kafka) → silver (events, replica, graph) → gold.",
    no_args_is_help=True,
)

LayersOption = Annotated[
    str,
    typer.Option("--layers", help="Comma-separated layers to run, in order: bronze,silver,gold."),
]
TablesOption = Annotated[
    list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
]


@app.command()
def build(
    layers: LayersOption = "bronze,silver,gold",
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Rebuild silver and gold from everything (ignore checkpoints/watermarks).",
        ),
    ] = False,
    graph: Annotated[
        bool, typer.Option("--graph/--no-graph", help="Export the Gremlin graph to silver.")
    ] = True,
    continuous: Annotated[
        bool,
        typer.Option("--continuous", help="Keep bronze ingesting (Ctrl-C stops); no other layer."),
    ] = False,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="Where Spark runs: local[2], spark://HOST:PORT (a standalone cluster, e.g. "
            "`paystream stack up --with spark-cluster`), k8s://... (default: "
            "PAYSTREAM_LAKEHOUSE__SPARK_MASTER, local[*]).",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Spark's and Hadoop's start-up output and warnings (by default they go "
            "to .stack/logs/spark.log).",
        ),
    ] = False,
) -> None:
    """Build the lakehouse: land Kafka in bronze, refine silver, recompute gold.

    Every step is idempotent: run it again and row counts and totals stay the same. By default
    bronze reads what the topics hold now (Structured Streaming, availableNow) and stops.
    """
    from lakehouse.jobs import check_kafka, ingest_continuously, parse_layers, with_master
    from paystream.stores.spark import show_jvm_output

    if verbose:
        show_jvm_output()
    settings = with_master(get_settings(), master)
    chosen = parse_layers(layers)
    if not continuous:
        build_lakehouse(settings, chosen, full=full, graph=graph)
        return
    check_kafka(settings)
    console.print("bronze: ingesting continuously; Ctrl-C to stop")
    ingest_continuously(settings, start_spark(settings))


@app.command()
def reconcile() -> None:
    """Check gold merchant statements against the ledger's balances, to the minor unit."""
    if not print_gold_reconciliation(get_settings()):
        raise typer.Exit(code=1)


@app.command()
def optimize(layers: LayersOption = "silver,gold", table: TablesOption = None) -> None:
    """Compact small files and Z-order the tables read by key (OPTIMIZE ... ZORDER BY)."""
    from lakehouse.care import optimize as run
    from lakehouse.jobs import parse_layers
    from lakehouse.paths import LakePaths

    settings = get_settings()
    spark = start_spark(settings)
    only = frozenset(table) if table else None
    with console.status("optimizing…"):
        results = run(spark, LakePaths.of(settings.lakehouse.root), parse_layers(layers), only)
    out = Table("layer", "table", "result", title="OPTIMIZE")
    for r in results:
        out.add_row(r.layer, r.table, r.detail)
    console.print(out)


@app.command()
def vacuum(
    hours: Annotated[
        float,
        typer.Option("--hours", min=0, help="Keep files needed by versions younger than this."),
    ] = 168.0,
    layers: LayersOption = "bronze,silver,gold",
    table: TablesOption = None,
) -> None:
    """Delete data files no longer needed (time travel reaches back only --hours)."""
    from lakehouse.care import vacuum as run
    from lakehouse.jobs import parse_layers
    from lakehouse.paths import LakePaths

    settings = get_settings()
    spark = start_spark(settings)
    paths, only = LakePaths.of(settings.lakehouse.root), frozenset(table) if table else None
    with console.status("vacuuming…"):
        results = run(spark, paths, hours, parse_layers(layers), only)
    console.print(f"vacuumed {len(results)} tables (retention {hours:g} h)")


@app.command()
def history(
    table: Annotated[str, typer.Argument(help="Table name, e.g. merchant_statements.")],
    layer: Annotated[str, typer.Option("--layer", help="bronze, silver or gold.")] = "gold",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10,
) -> None:
    """Show a table's versions (what time travel can read with versionAsOf)."""
    from lakehouse.care import history as read

    commits = read(str(get_settings().lakehouse.root), layer, table, limit)
    out = Table("version", "timestamp", "operation", "rows out", title=f"{layer}/{table}")
    for c in commits:
        metrics = c.get("operationMetrics") or {}
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(c.get("timestamp", 0)) / 1000))
        rows = metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted") or ""
        out.add_row(str(c.get("version", "")), stamp, str(c.get("operation", "")), str(rows))
    console.print(out)


@app.command("serve-sql")
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
    from lakehouse.serving.endpoint import (
        DATABASE,
        jdbc_url,
        serve_until_stopped,
        start,
        with_overrides,
    )

    settings = with_overrides(get_settings(), port=port, layers=layers)
    with console.status("starting Spark and the Thrift server…"):
        spark, tables = start(settings)
    out = Table("table", "layer", title=f"database {DATABASE}")
    for table in tables:
        out.add_row(table.name, table.layer)
    console.print(out)
    console.print(f"SQL endpoint ready: {jdbc_url(settings)} (read-only; Ctrl-C stops it)")
    serve_until_stopped(spark)


@app.command("spark-sql")
def spark_sql(
    statement: Annotated[str, typer.Argument(help="Spark SQL; tables are views by name.")],
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    """Run Spark SQL over the same tables `paystream sql` sees (starts a JVM)."""
    from lakehouse.sql import spark_query

    settings = get_settings()
    spark = start_spark(settings)
    print_arrow(spark_query(spark, settings.lakehouse.root, statement, limit))


@app.command()
def run(
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=1,
            help="Seconds between refreshes (default PAYSTREAM_LAKEHOUSE__REFRESH_INTERVAL_S, 30).",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="One catch-up refresh (availableNow), then exit."),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus /metrics on 127.0.0.1:PORT (0: none; default "
            "PAYSTREAM_STACK__LAKEHOUSE_METRICS_PORT, 9467).",
        ),
    ] = None,
    metrics_addr: Annotated[
        str,
        typer.Option("--metrics-addr", help="Address /metrics binds to (0.0.0.0 in a pod)."),
    ] = "127.0.0.1",
    master: Annotated[
        str | None,
        typer.Option("--master", help="Where Spark runs (as for `lakehouse build`)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING.")] = "INFO",
) -> None:
    """Keep the lakehouse fresh: refresh bronze, silver and gold every interval, in one Spark
    session, until stopped (SIGTERM or Ctrl-C).

    Each refresh lands new Kafka records in bronze and silver events (quarantining malformed
    ones), pulls the ledger's changes from the replica and MERGEs the gold slices they touch.
    A refresh with nothing new starts no Spark job. After each one, gold's freshness goes to
    Redis (`paystream lakehouse status`, GET /v1/status) and to /metrics. `paystream stack up
    --with lakehouse` runs this command under supervision; `make demo` starts it.
    """
    from lakehouse.jobs import with_master
    from lakehouse.live.lock import writer_lock
    from lakehouse.live.metrics import LiveMetrics
    from lakehouse.live.service import LakehouseService

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    settings = with_master(get_settings(), master)
    if interval is not None:
        lake = settings.lakehouse.model_copy(update={"refresh_interval_s": interval})
        settings = settings.model_copy(update={"lakehouse": lake})
    port = settings.stack.lakehouse_metrics_port if metrics_port is None else metrics_port
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with writer_lock(settings.lakehouse.root, "the lakehouse service"):
        spark = start_spark(settings)
        metrics = LiveMetrics()
        if port and not once:
            metrics.serve(port, metrics_addr)
        service = LakehouseService(settings, spark, metrics=metrics)
        console.print(
            f"lakehouse service: refreshing every {settings.lakehouse.refresh_interval_s:g} s"
            + (f", /metrics on {metrics_addr}:{port}" if port and not once else "")
        )
        try:
            service.run(stop, once=once)
        except KeyboardInterrupt:
            pass
        finally:
            service.close()
            spark.stop()
    if once and service.last is not None and service.last.status != "ok":
        raise typer.Exit(code=1)


@app.command()
def status() -> None:
    """How far behind the ledger gold is, from the lakehouse service's last refresh."""
    from paystream.contracts.freshness import GoldFreshness
    from paystream.stores.redis import RedisKeys, sync_client

    settings = get_settings()
    fields = sync_client(settings.redis).hgetall(
        RedisKeys(settings.streams.namespace).gold_freshness
    )
    freshness = GoldFreshness.from_fields(fields)
    if freshness is None:
        console.print(
            "no refresh recorded: the lakehouse service has not run "
            "(`paystream stack up --with lakehouse`)"
        )
        raise typer.Exit(code=1)
    now = datetime.now(UTC)
    out = Table("", "", title="gold freshness")
    out.add_row("lag", f"{freshness.lag_s(now):.1f} s (ledger changes gold may not hold yet)")
    out.add_row("covers ledger changes until", f"{freshness.covers_until:%Y-%m-%d %H:%M:%S} UTC")
    watermark = freshness.source_watermark
    out.add_row(
        "newest ledger change in gold",
        f"{watermark:%Y-%m-%d %H:%M:%S} UTC" if watermark else "(none)",
    )
    out.add_row(
        "last refresh",
        f"{freshness.refreshed_at:%Y-%m-%d %H:%M:%S} UTC, took {freshness.refresh_s:.1f} s",
    )
    out.add_row("status", freshness.status)
    console.print(out)
    if freshness.status != "ok":
        raise typer.Exit(code=1)
