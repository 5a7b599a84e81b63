"""``paystream db``: the ledger schema."""

from __future__ import annotations

import typer
from rich.console import Console

from paystream.settings import get_settings

app = typer.Typer(help="The MySQL ledger: schema migrations (Alembic).", no_args_is_help=True)
console = Console()


@app.command()
def upgrade() -> None:
    """Apply the ledger's Alembic migrations on the MySQL primary (idempotent)."""
    from paystream.ledger.migrate import upgrade as run

    run(get_settings().mysql)
    console.print("ledger schema is at head")
