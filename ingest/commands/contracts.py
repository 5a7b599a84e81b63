"""``paystream contracts``: the event contracts as JSON Schema and documentation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from paystream.settings import REPO_ROOT

app = typer.Typer(
    help="Event contracts: export JSON Schema and docs/events.md.", no_args_is_help=True
)
console = Console()


@app.command()
def export(
    docs_dir: Annotated[
        Path, typer.Option("--docs", help="Folder for events.md and schemas/.")
    ] = REPO_ROOT / "docs",
) -> None:
    """Write one JSON Schema per event type and regenerate docs/events.md."""
    from paystream.contracts.docs import export as write

    written = write(docs_dir)
    console.print(f"wrote {len(written)} files under {docs_dir}")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="A file holding one JSON event.")],
) -> None:
    """Validate one event; on failure, name the field and the rule that broke."""
    from paystream.contracts import ContractError, parse_event

    try:
        event = parse_event(path.read_bytes())
    except ContractError as exc:
        console.print(f"[red]invalid[/] ({exc.reason}): {exc}")
        raise typer.Exit(code=1) from None
    console.print(f"[green]valid[/] {event.event_type} {event.event_id}")
