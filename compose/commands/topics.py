"""``paystream topics``: create the topics and count what they hold."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from paystream.settings import get_settings

app = typer.Typer(
    help="Kafka / Event Hubs topics: create them, and count the records they hold.",
    no_args_is_help=True,
)
console = Console()


@app.command()
def create() -> None:
    """Create every paystream topic that does not exist yet (idempotent)."""
    from paystream.bus.kafka import ensure_topics

    created = asyncio.run(ensure_topics(get_settings().kafka))
    console.print(f"created: {', '.join(created) if created else 'nothing (all exist)'}")


@app.command()
def counts() -> None:
    """Show how many records each paystream topic holds."""
    from paystream.bus.kafka import all_topics, topic_counts

    settings = get_settings().kafka
    result = asyncio.run(topic_counts(settings, all_topics(settings)))
    table = Table("topic", "records", title=f"topics on {settings.bootstrap_servers}")
    for topic, count in result.items():
        table.add_row(topic, f"{count:,}")
    table.add_row("[bold]total[/]", f"{sum(result.values()):,}")
    console.print(table)
