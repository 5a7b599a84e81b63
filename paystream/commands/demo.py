"""``paystream demo``: the main job, end to end, on the local stack."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.rule import Rule

from paystream.settings import get_settings

console = Console()


def demo(
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines.")
    ] = None,
) -> None:
    """Run the main job end to end: stack up, topics, Online Retail replay, topic counts.

    Every step is idempotent: the stack is reused if it runs, and replayed events carry the
    same event ids as before, so consumers ignore the repeats.
    """
    from compose.local.stack import LocalStack
    from paystream.commands import replay, stack, topics

    settings = get_settings()
    started = time.monotonic()
    console.print(Rule("1. local stack"))
    with console.status("starting the local stack…"):
        LocalStack(settings).up(lambda line: console.log(line))
    stack.status()

    console.print(Rule("2. topics"))
    topics.create()

    console.print(Rule("3. Online Retail replay"))
    replay.online_retail(path=replay.DEFAULT_FILE, rate=None, limit=limit, dry_run=False)

    console.print(Rule("4. what Kafka holds"))
    topics.counts()
    console.print(f"[green]done[/] in {time.monotonic() - started:.0f} s")
