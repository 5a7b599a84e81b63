"""``paystream simulate``: synthetic payments with labelled fraud, published to Kafka."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.simulator import generator as sim
from ingest.simulator.foreign_csv import mapping_path
from ingest.simulator.run import SimulationRun, SimulationSummary, simulate_to_kafka
from paystream.money import format_minor_units
from paystream.settings import get_settings

console = Console()


def progress_columns() -> tuple[ProgressColumn, ...]:
    """Fresh columns for each bar (Rich columns cache what they drew per task)."""
    return (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
    )


def _grouped(amount_minor: int, currency: str) -> str:
    # Through Decimal, so thousands separators never cost a minor unit.
    return f"{Decimal(format_minor_units(amount_minor, currency)):,}"


def print_summary(summary: SimulationSummary, seed: int) -> None:
    """The closing table: events by type, payments, fraud by pattern, money by currency."""
    table = Table("", "count", title=f"paystream simulate --seed {seed}")
    table.columns[1].justify = "right"
    for event_type, count in sorted(summary.events.items()):
        table.add_row(event_type, f"{count:,}")
    table.add_section()
    table.add_row("payments authorized", f"{summary.payments:,}")
    table.add_row("payments failed", f"{summary.failed:,}")
    for pattern in sim.FRAUD_PATTERNS:
        table.add_row(f"fraud: {pattern}", f"{summary.fraud_payments[pattern]:,}")
    for reason, count in sorted(summary.refunds.items()):
        table.add_row(f"refunds: {reason}", f"{count:,}")
    table.add_section()
    for currency, minor in sorted(summary.authorized_minor.items()):
        table.add_row(f"authorized {currency}", _grouped(minor, currency))
    console.print(table)


def simulate(
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same events.")],
    customers: Annotated[int, typer.Option(min=1, help="Regular customers.")] = 500,
    merchants: Annotated[int, typer.Option(min=1, help="Merchants.")] = 20,
    days: Annotated[int, typer.Option(min=1, help="Simulated days.")] = 14,
    rate: Annotated[
        float | None,
        typer.Option(min=0.01, help="Events per second (default: as fast as possible)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after N events.")] = None,
    labels_out: Annotated[
        Path | None,
        typer.Option(
            "--labels-out",
            help="Fraud labels file, JSON lines (default: .stack/simulate/labels-<seed>.jsonl).",
        ),
    ] = None,
    foreign_csv: Annotated[
        Path | None,
        typer.Option(
            "--foreign-csv",
            help="Also write the authorizations as a foreign labelled CSV (.csv or .csv.gz) "
            "and its column mapping, for `paystream import transactions`.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Generate and summarize without Kafka; writes labels only with --labels-out.",
        ),
    ] = False,
    compromised_merchants: Annotated[
        float,
        typer.Option(
            "--compromised-merchants-per-day",
            min=0,
            help="The Fraud Detection Handbook's skimmed terminals: merchants whose every "
            "payment is fraud for --compromise-days (0: off).",
        ),
    ] = 0.0,
    account_takeovers: Annotated[
        float,
        typer.Option(
            "--account-takeovers-per-day",
            min=0,
            help="Taken-over accounts paying large amounts in a third of their purchases for "
            "half of --compromise-days (0: off).",
        ),
    ] = 0.0,
    compromise_days: Annotated[
        int, typer.Option("--compromise-days", min=1, help="How long a compromise lasts.")
    ] = 28,
) -> None:
    """Stream synthetic payments with labelled fraud into Kafka.

    Merchants (HKD, GBP and JPY) and customers register, then sessions lead to orders or
    hotel and car-rental bookings, paid and then captured or failed, with refunds and
    cancellations. Four fraud patterns are injected: card testing, velocity attacks, new
    device from a new country, and a fraud ring, plus optionally the Handbook's slow ones
    (compromised merchants, account takeovers); captured fraud is charged back days later.
    Every fraudulent authorization is written to the labels file as one JSON line, the
    ground truth for the risk models. Events are in time order and their ids derive from
    the seed, so the same seed always produces the same stream.
    """
    config = sim.SimulationConfig(
        seed=seed,
        merchants=merchants,
        customers=customers,
        days=days,
        compromised_merchants_per_day=compromised_merchants,
        account_takeovers_per_day=account_takeovers,
        compromise_days=compromise_days,
    )
    run = simulate_to_kafka(
        get_settings(),
        config,
        rate=rate,
        limit=limit,
        labels_out=labels_out,
        foreign_csv=foreign_csv,
        dry_run=dry_run,
        progress=Progress(*progress_columns(), console=console),
    )
    print_run(run, seed)


def print_run(run: SimulationRun, seed: int) -> None:
    """The closing table, the speed, and where the labels and the foreign CSV went."""
    summary = run.summary
    print_summary(summary, seed)
    verb = "generated (dry run, nothing published)" if run.dry_run else "published to Kafka"
    speed = f" ({summary.total / run.seconds:,.0f}/s)" if run.seconds > 0 else ""
    console.print(f"{summary.total:,} events {verb} in {run.seconds:.1f} s{speed}")
    if run.labels_out is not None:
        frauds = sum(summary.fraud_payments.values())
        console.print(f"{frauds:,} fraud labels written to {run.labels_out}")
    if run.foreign_csv is not None:
        csv, mapping = run.foreign_csv, mapping_path(run.foreign_csv)
        console.print(
            f"foreign CSV: {csv} with mapping {mapping} "
            f"(`paystream import transactions {csv} --mapping {mapping}`)"
        )
