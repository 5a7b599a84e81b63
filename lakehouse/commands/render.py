"""Rich rendering shared by the lakehouse's commands and the demo: a build's progress and
summary, gold's reconciliation with the ledger, and query results."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from paystream.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from lakehouse.jobs import BuildReport

# Wide enough that reconciliation tables never truncate an amount, even when piped.
console = Console(width=140)


class OutputFormat(StrEnum):
    """How a query's result is printed."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def start_spark(settings: Settings) -> SparkSession:
    """The lakehouse's Spark session, with a status line while the JVM starts."""
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
    from lakehouse.live.lock import writer_lock

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with writer_lock(settings.lakehouse.root, "`paystream lakehouse build`"):
        session = spark or start_spark(settings)
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


def print_arrow(table: pa.Table, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    """Print a query result as a Rich table, CSV or JSON on standard output."""
    rows: list[dict[str, Any]] = table.to_pylist()
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if fmt is OutputFormat.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=table.column_names)
        writer.writeheader()
        writer.writerows(rows)
        return
    out = Table(*table.column_names)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(out)
    console.print(f"[dim]{table.num_rows:,} rows[/]")
