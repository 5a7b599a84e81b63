"""``paystream replay``: stream real data sets into Kafka."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ingest.online_retail.events import ReplaySummary
from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from paystream.settings import get_settings

app = typer.Typer(
    help="Replay real data sets into Kafka as paystream events.", no_args_is_help=True
)
console = Console()


def progress_columns() -> tuple[ProgressColumn, ...]:
    """Fresh columns for each bar (Rich columns cache what they drew per task)."""
    return (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def gbp(minor: int) -> str:
    """Pence as a GBP amount with thousands separators, without floats."""
    return f"{Decimal(minor).scaleb(-2):,.2f}"


def print_summary(summary: ReplaySummary, seconds: float) -> None:
    """The closing summary: every line accounted for, with the file's checksums."""
    table = Table("", "lines", "quantity", "amount (GBP)", title="Online Retail replay")
    sent_amount = gbp(summary.ordered_minor - summary.refunded_minor)
    table.add_row(
        "orders (sent)",
        f"{summary.lines_in_orders:,}",
        f"{summary.ordered_quantity:,}",
        gbp(summary.ordered_minor),
    )
    table.add_row(
        "refunds (sent)",
        f"{summary.lines_in_refunds:,}",
        f"-{summary.refunded_quantity:,}",
        gbp(-summary.refunded_minor),
    )
    for reason, count in sorted(summary.routed.items()):
        table.add_row(f"routed: {reason}", f"{count:,}", "", "")
    table.add_row(
        "routed (total)",
        f"{summary.lines_routed:,}",
        f"{summary.routed_quantity:,}",
        f"{summary.routed_amount:,.2f}",
    )
    table.add_row(
        "[bold]file total[/]",
        f"{summary.lines:,}",
        f"{summary.quantity_total:,}",
        f"{summary.amount_total:,.2f}",
    )
    console.print(table)
    events = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.events.items()))
    console.print(f"events: {events}")
    console.print(f"guest-checkout lines: {summary.guest_lines:,}; sent amount {sent_amount}")
    verdict = "[green]every line accounted for[/]" if summary.accounted else "[red]MISMATCH[/]"
    console.print(verdict)
    if seconds:
        total = sum(summary.events.values()) + summary.lines_routed
        console.print(f"published {total:,} records in {seconds:.1f} s ({total / seconds:,.0f}/s)")


@app.command("online-retail")
def online_retail(
    path: Annotated[
        Path, typer.Option("--path", help="The Online Retail CSV (gzip or plain).")
    ] = DEFAULT_FILE,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="Events per second (default: as fast as possible)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines of the file.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Parse and account for every line; send nothing.")
    ] = False,
) -> None:
    """Stream the UCI Online Retail transactions (541,909 lines) into Kafka.

    Each invoice becomes an order with its lines, a payment (authorized, then captured) and,
    on first sight, a customer registration; `C` invoices become refunds. Lines that are not
    product sales (postage, fees, zero or sub-penny prices, stock corrections) are routed to
    the dead-letter topic with their reason. Event ids derive from the invoice, so a second
    replay produces the same events and idempotent consumers ignore them.
    """
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        summary, seconds = asyncio.run(
            run_online_retail(get_settings().kafka, path, rate, limit, dry_run, progress)
        )
    print_summary(summary, seconds)
    if not summary.accounted:
        raise typer.Exit(code=1)
