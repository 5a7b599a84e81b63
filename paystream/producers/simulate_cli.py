"""``paystream simulate``: synthetic payments with labelled fraud, published to Kafka."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paystream.money import format_minor_units
from paystream.producers import simulate as sim
from paystream.producers.foreign_csv import ForeignCsv, mapping_path
from paystream.producers.publish import Pair, SimulationSummary, run_simulation
from paystream.settings import get_settings

console = Console()


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
    write_labels = labels_out is not None or not dry_run
    if labels_out is None:
        labels_out = get_settings().stack.home / "simulate" / f"labels-{seed}.jsonl"
    pairs = islice(sim.simulate(config), limit)
    summary = SimulationSummary()
    # Labels go to a temporary file that replaces the real one only after a complete run.
    partial = labels_out.with_name(labels_out.name + ".partial")
    if write_labels:
        partial.parent.mkdir(parents=True, exist_ok=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
    )
    total = limit or days * 24
    every = 1 if rate else 250  # a paced run is slow enough to redraw on every event
    try:
        with (
            Progress(*columns, console=console) as progress,
            partial.open("w") if write_labels else nullcontext() as labels,
            ForeignCsv(foreign_csv) if foreign_csv else nullcontext() as foreign,
        ):
            task = progress.add_task("simulating", total=total, what="")

            def on_event(pair: Pair) -> None:
                event, label = pair
                summary.add(event, label)
                if label is not None and labels is not None:
                    labels.write(label.to_json() + "\n")
                if foreign is not None:
                    foreign.add(event, label)
                if summary.total % every == 0:
                    hours = (event.occurred_at - config.start).total_seconds() / 3600
                    done = summary.total if limit else min(hours, total)
                    what = f"{summary.total:,} events, day {int(hours // 24) + 1}"
                    progress.update(task, completed=done, what=what)

            seconds = asyncio.run(
                run_simulation(get_settings().kafka, pairs, rate, dry_run, on_event)
            )
            progress.update(task, completed=total, what=f"{summary.total:,} events")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if write_labels:
        partial.replace(labels_out)
    print_summary(summary, seed)
    verb = "generated (dry run, nothing published)" if dry_run else "published to Kafka"
    speed = f" ({summary.total / seconds:,.0f}/s)" if seconds > 0 else ""
    console.print(f"{summary.total:,} events {verb} in {seconds:.1f} s{speed}")
    if write_labels:
        frauds = sum(summary.fraud_payments.values())
        console.print(f"{frauds:,} fraud labels written to {labels_out}")
    if foreign_csv is not None:
        console.print(
            f"foreign CSV: {foreign_csv} with mapping {mapping_path(foreign_csv)} "
            f"(`paystream import transactions {foreign_csv} --mapping {mapping_path(foreign_csv)}`)"
        )
