"""``paystream import``: bring a risk team's own labelled history into paystream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ingest.transactions.importer import ImportSummary, import_transactions
from paystream.settings import get_settings

app = typer.Typer(
    help="Import foreign data (a risk team's labelled transactions) as paystream events.",
    no_args_is_help=True,
)
console = Console()

_MAPPING_EXAMPLE = """
Example mapping (YAML, every key also an option):

  transaction_id: TRANSACTION_ID
  timestamp: TX_DATETIME          # ISO 8601 unless timestamp_format is given
  customer: CUSTOMER_ID
  merchant: TERMINAL_ID
  amount: TX_AMOUNT               # decimal text in major units (amount_unit: minor for 1250)
  currency_code: EUR              # or  currency: CURRENCY_COLUMN
  card: CARD_ID                   # optional; ids and numbers are fingerprinted, never kept
  fraud: TX_FRAUD                 # optional; 1/true/yes/fraud mean fraud
"""


def progress_columns() -> tuple[ProgressColumn, ...]:
    """Fresh columns for each bar (Rich columns cache what they drew per task)."""
    return (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def print_summary(summary: ImportSummary, path: Path) -> None:
    """The closing table: rows read, sent, out of range and routed with reasons."""
    table = Table("", "rows", title=f"paystream import transactions {path.name}")
    table.columns[1].justify = "right"
    table.add_row("read", f"{summary.rows:,}")
    table.add_row("payments", f"{summary.transactions:,}")
    table.add_row("  of which labelled fraud", f"{summary.fraud:,}")
    table.add_row("outside --since/--until", f"{summary.out_of_range:,}")
    for reason, count in sorted(summary.routed.items()):
        table.add_row(f"routed: {reason}", f"{count:,}")
    table.add_section()
    for event_type, count in sorted(summary.events.items()):
        table.add_row(f"event {event_type}", f"{count:,}")
    console.print(table)
    if summary.first and summary.last:
        console.print(f"event time {summary.first.isoformat()} → {summary.last.isoformat()}")
    verdict = "[green]every row accounted for[/]" if summary.accounted else "[red]MISMATCH[/]"
    console.print(verdict)
    if summary.seconds:
        console.print(
            f"{summary.rows:,} rows in {summary.seconds:.1f} s ({summary.rows_per_s:,.0f} rows/s)"
        )


@app.command(
    "transactions",
    epilog=_MAPPING_EXAMPLE.replace("\n", "\n\n"),
)
def transactions(
    path: Annotated[Path, typer.Argument(help="CSV, CSV.gz or Parquet file.")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML column mapping (options override).")
    ] = None,
    transaction_id: Annotated[str | None, typer.Option(help="Transaction id column.")] = None,
    timestamp: Annotated[str | None, typer.Option(help="Transaction time column.")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id column.")] = None,
    merchant: Annotated[str | None, typer.Option(help="Merchant or terminal id column.")] = None,
    amount: Annotated[str | None, typer.Option(help="Amount column.")] = None,
    amount_unit: Annotated[
        str | None, typer.Option(help="major (decimal text, the default) or minor units.")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="Currency column (ISO 4217).")] = None,
    currency_code: Annotated[
        str | None, typer.Option(help="One currency for every row, e.g. EUR.")
    ] = None,
    card: Annotated[str | None, typer.Option(help="Card id, token or number column.")] = None,
    device: Annotated[str | None, typer.Option(help="Device id column.")] = None,
    country: Annotated[str | None, typer.Option(help="Payer's IP country column.")] = None,
    fraud: Annotated[str | None, typer.Option(help="Fraud label column.")] = None,
    timestamp_format: Annotated[
        str | None, typer.Option(help="strptime format, epoch_s or epoch_ms.")
    ] = None,
    id_prefix: Annotated[
        str | None, typer.Option(help="Prefix for every id, to keep sources apart.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First transaction time to import (ISO 8601, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Import transactions before this time (ISO 8601, UTC).")
    ] = None,
    chargeback_delay_days: Annotated[
        float,
        typer.Option(min=0, help="Days from a fraud payment to its chargeback (the label)."),
    ] = 7.0,
    rate: Annotated[
        float | None,
        typer.Option(min=0.01, help="Events per second (default: as fast as possible)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Read only the first N rows.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and convert every row; send nothing.")
    ] = False,
) -> None:
    """Turn a labelled transaction file into paystream events and produce them to Kafka.

    Each row becomes a payment (authorized, then captured), its customer and merchant
    register on first sight, and a row labelled fraud becomes a `fraud_chargeback` refund
    dated --chargeback-delay-days later, as a real chargeback would arrive. Event time comes
    from the file, so the risk agent computes the features the history would have had live.
    Bad rows go to the dead-letter topic with their reason and are counted; event ids come
    from the transaction ids, so importing a file twice counts every payment once.
    """
    fields: dict[str, Any] = {
        "transaction_id": transaction_id,
        "timestamp": timestamp,
        "customer": customer,
        "merchant": merchant,
        "amount": amount,
        "amount_unit": amount_unit,
        "currency": currency,
        "currency_code": currency_code,
        "card": card,
        "device": device,
        "country": country,
        "fraud": fraud,
        "timestamp_format": timestamp_format,
        "id_prefix": id_prefix,
    }
    summary = import_transactions(
        get_settings(),
        path,
        mapping,
        fields,
        since=since,
        until=until,
        chargeback_delay_days=chargeback_delay_days,
        rate=rate,
        limit=limit,
        dry_run=dry_run,
        progress=Progress(*progress_columns(), console=console),
    )
    print_summary(summary, path)
    if not summary.accounted:
        raise typer.Exit(code=1)
