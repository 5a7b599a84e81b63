"""``paystream replay``: stream real data sets into Kafka."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from paystream.producers.online_retail import ReplaySummary, replay_events
from paystream.settings import REPO_ROOT, KafkaSettings, get_settings

app = typer.Typer(
    help="Replay real data sets into Kafka as paystream events.", no_args_is_help=True
)
console = Console()

DEFAULT_FILE = REPO_ROOT / "data" / "online-retail" / "online_retail.csv.gz"


class Pacer:
    """Keeps a steady rate: sleeps so that ``n`` events never run ahead of ``n / rate``."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()

    async def wait(self, sent: int) -> None:
        """Pause until event number ``sent`` is due."""
        if not self.rate:
            return
        due = self.started + sent / self.rate
        delay = due - time.monotonic()
        if delay > 0.002:
            await asyncio.sleep(delay)


async def run_online_retail(
    settings: KafkaSettings,
    path: Path,
    rate: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> tuple[ReplaySummary, float]:
    """Publish the file's events and routed lines; return the summary and seconds taken."""
    from paystream.bus.kafka import KafkaPublisher, ensure_topics
    from paystream.bus.port import Message

    # The clock starts before parsing: the figure is the whole replay, file to broker.
    started = time.perf_counter()
    summary = ReplaySummary()
    expected, events, routed = replay_events(path, summary, limit)
    task = progress.add_task("replaying", total=expected + len(routed)) if progress else None
    if dry_run:
        if progress is not None and task is not None:
            progress.advance(task, len(routed))
        for _ in events:
            if progress is not None and task is not None:
                progress.advance(task)
        return summary, 0.0

    await ensure_topics(settings)
    pacer = Pacer(rate)
    async with KafkaPublisher(settings) as publisher:
        dlq = settings.topic("dlq")
        for n, item in enumerate(routed):
            letter = item.dead_letter()
            await publisher.send(Message(dlq, letter.key(), letter.to_bytes()))
            await pacer.wait(n)
        if progress is not None and task is not None:
            progress.advance(task, len(routed))
        for n, event in enumerate(events, start=len(routed)):
            await publisher.publish(event)
            await pacer.wait(n)
            if progress is not None and task is not None and n % 500 == 0:
                progress.update(task, completed=n)
        await publisher.flush()
        if progress is not None and task is not None:
            progress.update(task, completed=publisher.stats.sent)
    return summary, time.perf_counter() - started


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
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        summary, seconds = asyncio.run(
            run_online_retail(get_settings().kafka, path, rate, limit, dry_run, progress)
        )
    print_summary(summary, seconds)
    if not summary.accounted:
        raise typer.Exit(code=1)
