"""``paystream features``: offline fraud features of a labelled history, and their parity
with what the risk agent logged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.commands.render import console
from paystream.contracts.history import DEFAULT_NAMESPACE
from paystream.settings import get_settings

if TYPE_CHECKING:
    from lakehouse.features.history import HistorySummary

app = typer.Typer(
    help="Point-in-time fraud features of a labelled history, computed on the lakehouse, "
    "and their parity with the vectors the risk agent logged.",
    no_args_is_help=True,
)

NamespaceOption = Annotated[
    str, typer.Option("--namespace", help="The history's name in the lakehouse (history/NAME).")
]


@app.command()
def build(
    history: Annotated[Path, typer.Option("--history", help="CSV, CSV.gz or Parquet file.")],
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="YAML column mapping (default: FILE.mapping.yaml)."),
    ] = None,
    id_prefix: Annotated[
        str | None, typer.Option(help="Prefix for every id (as given to `import`).")
    ] = None,
    chargeback_delay_days: Annotated[
        float, typer.Option(min=0, help="Days from a fraud payment to its chargeback.")
    ] = 7.0,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
) -> None:
    """Land a labelled history in the lakehouse and compute its offline features.

    Reads the file with the import's column mapping (streamed, never whole), routes rows that
    cannot be payments with their reason, and computes every payment's features in event
    time with Spark and the risk agent's own transforms. Nothing is written to the ledger,
    Redis or the graph.
    """
    from lakehouse.features.history import build_history, mapping_for

    settings = get_settings()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=None)
        summary, paths = build_history(
            settings,
            history,
            mapping_for(history, mapping, {"id_prefix": id_prefix}),
            namespace=namespace,
            chargeback_delay_days=chargeback_delay_days,
            on_step=lambda step: progress.update(task, description=step),
            on_rows=lambda n: progress.update(task, description=f"read {n:,} rows"),
        )
    print_history(summary, paths.features)
    if not summary.accounted:
        raise typer.Exit(code=1)


def print_history(summary: HistorySummary, features: str) -> None:
    """Rows read, payments, routed rows by reason, and seconds per step."""
    table = Table("", "rows", title=f"offline features at {features}")
    table.columns[1].justify = "right"
    table.add_row("read", f"{summary.rows:,}")
    table.add_row("payments", f"{summary.transactions:,}")
    table.add_row("  of which labelled fraud", f"{summary.fraud:,}")
    for reason, count in sorted(summary.routed.items()):
        table.add_row(f"routed: {reason}", f"{count:,}")
    console.print(table)
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.seconds.items())
    verdict = "[green]every row accounted for[/]" if summary.accounted else "[red]MISMATCH[/]"
    console.print(f"{verdict} · {steps}")


@app.command()
def parity(
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    payment_prefix: Annotated[
        str, typer.Option(help="Only payments whose id starts with this (an import's prefix).")
    ] = "",
) -> None:
    """Compare a history's offline features with the vectors the risk agent logged.

    For every payment both have, each feature must agree: counts exactly, means and rates
    within 1e-9. Prints the mismatch share per feature; exits 1 if any feature differs.
    """
    from lakehouse.features.parity import feature_parity
    from paystream.contracts.history import HistoryPaths

    settings = get_settings()
    paths = HistoryPaths.of(settings.lakehouse.root, namespace)
    with console.status("comparing offline features with the logged vectors"):
        report = feature_parity(paths.features, settings.mysql, payment_prefix)
    table = Table("feature", "mismatches", "share", "example (payment, offline, logged)")
    for name, count in report.mismatches.items():
        example = report.examples.get(name, [])
        table.add_row(name, f"{count:,}", f"{report.share(name):.4%}", str(example[:1]))
    console.print(table)
    console.print(
        f"{report.compared:,} payments compared, {report.not_logged:,} not decided by the "
        f"agent; overall mismatch share {report.overall_share:.6f}"
    )
    if any(report.mismatches.values()):
        raise typer.Exit(code=1)
