"""``paystream lakehouse``: build the Delta lakehouse and look after its tables;
``paystream sql``: query it without a JVM."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.serving.cli import serve_sql
from paystream.settings import Settings, get_settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from lakehouse.jobs import BuildReport

app = typer.Typer(
    help="The Delta lakehouse: bronze (Kafka) → silver (events, replica, graph) → gold.",
    no_args_is_help=True,
)
# Wide enough that reconciliation tables never truncate an amount, even when piped.
console = Console(width=140)

LayersOption = Annotated[
    str,
    typer.Option("--layers", help="Comma-separated layers to run, in order: bronze,silver,gold."),
]


class OutputFormat(StrEnum):
    """How ``paystream sql`` prints its result."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _spark(settings: Settings) -> SparkSession:
    from paystream.stores.spark import build_spark

    with console.status("starting Spark…"):
        return build_spark(settings.lakehouse, "paystream-lakehouse")


def build_lakehouse(
    settings: Settings,
    layers: tuple[str, ...] = ("bronze", "silver", "gold"),
    *,
    full: bool = False,
    graph: bool = True,
    spark: SparkSession | None = None,
) -> BuildReport:
    """Run a build with a Rich progress line per step and print its summary."""
    from lakehouse.jobs import run_build

    session = spark or _spark(settings)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=None)
        report = run_build(
            settings,
            session,
            layers=layers,
            full=full,
            graph=graph,
            on_step=lambda name: progress.update(task, description=name),
            on_done=lambda r: progress.console.print(
                f"[green]✓[/] {r.layer}: {r.name} — {r.detail} [dim]({r.seconds:.1f} s)[/]"
            ),
        )
    summary = Table("layer", "step", "result", "s", title=f"lakehouse at {settings.lakehouse.root}")
    for step in report.steps:
        summary.add_row(step.layer, step.name, step.detail, f"{step.seconds:.1f}")
    console.print(summary)
    return report


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
) -> None:
    """Build the lakehouse: land Kafka in bronze, refine silver, recompute gold.

    Every step is idempotent: run it again and row counts and totals stay the same. By default
    bronze reads what the topics hold now (Structured Streaming, availableNow) and stops.
    """
    from lakehouse.jobs import check_kafka, parse_layers

    settings = get_settings()
    if master is not None:
        lake = settings.lakehouse.model_copy(update={"spark_master": master})
        settings = settings.model_copy(update={"lakehouse": lake})
    chosen = parse_layers(layers)
    if continuous:
        from lakehouse.bronze.kafka import ingest
        from lakehouse.paths import LakePaths

        check_kafka(settings)
        console.print("bronze: ingesting continuously; Ctrl-C to stop")
        spark = _spark(settings)
        ingest(spark, settings.kafka, LakePaths.of(settings.lakehouse.root), continuous=True)
        return
    build_lakehouse(settings, chosen, full=full, graph=graph)


@app.command()
def reconcile() -> None:
    """Check gold merchant statements against the ledger's balances, to the minor unit."""
    ok = print_gold_reconciliation(get_settings())
    if not ok:
        raise typer.Exit(code=1)


def print_gold_reconciliation(settings: Settings) -> bool:
    """Print gold and ledger totals per currency; True when they agree everywhere."""
    from lakehouse.reconcile import reconcile_gold
    from paystream.money import format_minor_units

    report = reconcile_gold(settings)
    table = Table(
        "currency",
        "gross (gold)",
        "captured (ledger)",
        "refunds (gold)",
        "refunded (ledger)",
        "payments",
        "refunds",
        title="gold merchant_statements vs ledger balances",
    )
    for currency in sorted(set(report.gold) | set(report.ledger)):
        g = report.gold.get(currency, {})
        led = report.ledger.get(currency, {})
        table.add_row(
            currency,
            format_minor_units(g.get("gross_minor", 0), currency),
            format_minor_units(led.get("gross_minor", 0), currency),
            format_minor_units(g.get("refunds_minor", 0), currency),
            format_minor_units(led.get("refunds_minor", 0), currency),
            f"{g.get('payment_count', 0):,}",
            f"{g.get('refund_count', 0):,}",
        )
    console.print(table)
    if report.ok:
        console.print("[green]reconciled: gold equals the ledger to the minor unit[/]")
    for line in report.mismatches[:20]:
        console.print(f"[red]mismatch[/] {line}")
    return report.ok


TablesOption = Annotated[
    list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
]


@app.command()
def optimize(layers: LayersOption = "silver,gold", table: TablesOption = None) -> None:
    """Compact small files and Z-order the tables read by key (OPTIMIZE ... ZORDER BY)."""
    from lakehouse.care import optimize as run
    from lakehouse.jobs import parse_layers
    from lakehouse.paths import LakePaths

    settings = get_settings()
    spark = _spark(settings)
    with console.status("optimizing…"):
        results = run(
            spark,
            LakePaths.of(settings.lakehouse.root),
            parse_layers(layers),
            frozenset(table) if table else None,
        )
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
    spark = _spark(settings)
    with console.status("vacuuming…"):
        results = run(
            spark,
            LakePaths.of(settings.lakehouse.root),
            hours,
            parse_layers(layers),
            frozenset(table) if table else None,
        )
    console.print(f"vacuumed {len(results)} tables (retention {hours:g} h)")


@app.command()
def history(
    table: Annotated[str, typer.Argument(help="Table name, e.g. merchant_statements.")],
    layer: Annotated[str, typer.Option("--layer", help="bronze, silver or gold.")] = "gold",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10,
) -> None:
    """Show a table's versions (what time travel can read with versionAsOf)."""
    from lakehouse.care import history as read
    from paystream.errors import ConfigurationError

    root = str(get_settings().lakehouse.root)
    try:
        commits = read(root, layer, table, limit)
    except Exception as exc:  # delta-rs raises TableNotFoundError and friends
        raise ConfigurationError(f"no Delta table {layer}/{table} under {root}") from exc
    out = Table("version", "timestamp", "operation", "rows out", title=f"{layer}/{table}")
    for c in commits:
        metrics = c.get("operationMetrics") or {}
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(c.get("timestamp", 0)) / 1000))
        rows = metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted") or ""
        out.add_row(str(c.get("version", "")), stamp, str(c.get("operation", "")), str(rows))
    console.print(out)


app.command("serve-sql")(serve_sql)


@app.command("spark-sql")
def spark_sql(
    statement: Annotated[str, typer.Argument(help="Spark SQL; tables are views by name.")],
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    """Run Spark SQL over the same tables `paystream sql` sees (starts a JVM)."""
    from lakehouse.sql import table_locations

    settings = get_settings()
    spark = _spark(settings)
    for name, location in table_locations(settings.lakehouse.root).items():
        spark.read.format("delta").load(location).createOrReplaceTempView(name)
    try:
        frame = spark.sql(statement)
    except Exception as exc:  # AnalysisException / ParseException: say what Spark said
        from lakehouse.sql import QueryError

        raise QueryError(f"Spark SQL failed: {str(exc).splitlines()[0][:300]}") from exc
    _print_arrow(frame.limit(limit).toArrow(), OutputFormat.TABLE)


def _print_arrow(table: pa.Table, fmt: OutputFormat) -> None:
    rows: list[dict[str, Any]] = table.to_pylist()
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if fmt is OutputFormat.CSV:
        import csv
        import sys

        writer = csv.DictWriter(sys.stdout, fieldnames=table.column_names)
        writer.writeheader()
        writer.writerows(rows)
        return
    out = Table(*table.column_names)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(out)
    console.print(f"[dim]{table.num_rows:,} rows[/]")


def sql(
    statement: Annotated[
        str, typer.Argument(help='SQL, e.g. "SELECT * FROM merchant_statements LIMIT 5".')
    ],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.TABLE
    ),
) -> None:
    """Query gold and silver tables with SQL through delta-rs/DataFusion (no JVM).

    Tables are registered by name: merchant_statements, customer_payment_history,
    interactions_customer_product, interactions_customer_merchant, fraud_labels, risk_kpis,
    and silver's payments, refunds, orders, order_lines, events_<topic>, graph_vertices, ...
    """
    from lakehouse.sql import query

    _print_arrow(query(get_settings().lakehouse.root, statement), fmt)
