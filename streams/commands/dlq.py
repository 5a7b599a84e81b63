"""``paystream dlq``: look into the dead-letter topic and send records back."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paystream.settings import get_settings

app = typer.Typer(
    help="The dead-letter topic: every record the streams refused, with its reason, its "
    "source topic/partition/offset and its original bytes.",
    no_args_is_help=True,
)
console = Console()

ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Only letters with this reason code.")
]


@app.command()
def inspect(
    reason: ReasonOption = None,
    last: Annotated[int, typer.Option("--last", "-n", help="How many entries to show.")] = 10,
) -> None:
    """Count dead letters by reason and source, and show the latest entries."""
    from paystream.bus.deadletters import read_dead_letters

    letters = asyncio.run(read_dead_letters(get_settings().kafka))
    if reason:
        letters = [s for s in letters if s.letter.reason == reason]
    counts = Counter((s.letter.reason, s.letter.source) for s in letters)
    table = Table("reason", "source", "count", title=f"{len(letters):,} dead letters")
    for (why, source), count in counts.most_common():
        table.add_row(why, source, f"{count:,}")
    console.print(table)
    recent = sorted(letters, key=lambda s: s.letter.dead_at)[-last:]
    detail = Table("dead at", "reason", "source position", "detail", "original (first 60 bytes)")
    for stored in recent:
        letter = stored.letter
        position = f"{letter.source}[{letter.partition}]@{letter.offset}"
        detail.add_row(
            letter.dead_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.reason,
            position,
            letter.detail[:80],
            repr(letter.original[:60]),
        )
    console.print(detail)


@app.command()
def replay(
    reason: ReasonOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Send dead letters' original bytes back to their source topics (after a fix).

    Records that still break the contracts simply come back to the dead-letter topic; the
    sinks are idempotent, so records that now pass are applied once.
    """
    from paystream.bus.deadletters import read_dead_letters, replay_dead_letters

    settings = get_settings().kafka
    letters = asyncio.run(read_dead_letters(settings))
    chosen = [s for s in letters if reason is None or s.letter.reason == reason]
    if not chosen:
        console.print("nothing to replay")
        return
    if not yes and not typer.confirm(f"send {len(chosen):,} records back to their topics?"):
        raise typer.Abort()
    sent, skipped = asyncio.run(replay_dead_letters(settings, chosen, lambda letter: True))
    console.print(f"sent {sent:,} records back; skipped {skipped:,} whose source is not a topic")
