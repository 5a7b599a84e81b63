"""The ``paystream`` command line."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from paystream.errors import PaystreamError

console = Console(stderr=True)

app = typer.Typer(
    name="paystream",
    help="paystream: a streaming-first data platform for digital payments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug output.")] = False,
) -> None:
    """Stand up the stack, replay real data, and inspect the results."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # gremlinpython logs every client open/close at INFO.
    logging.getLogger("gremlinpython").setLevel(logging.WARNING)
    # aiokafka logs whole request structs at DEBUG, the Event Hubs SASL secret included.
    logging.getLogger("aiokafka").setLevel(logging.INFO)


def _register() -> None:
    # Sub-apps are imported here so that `paystream --help` stays fast and a heavy
    # dependency of one command cannot break the others.
    from paystream.commands import (
        api,
        chaos,
        contracts,
        db,
        demo,
        dlq,
        lakehouse,
        recommend,
        replay,
        simulate,
        stack,
        streams,
        topics,
        train,
    )

    app.add_typer(stack.app, name="stack")
    app.add_typer(contracts.app, name="contracts")
    app.add_typer(topics.app, name="topics")
    app.add_typer(replay.app, name="replay")
    app.add_typer(streams.app, name="streams")
    app.add_typer(dlq.app, name="dlq")
    app.add_typer(db.app, name="db")
    app.add_typer(lakehouse.app, name="lakehouse")
    app.add_typer(api.app, name="api")
    app.add_typer(train.app, name="train")
    app.command("simulate")(simulate.simulate)
    app.command("demo")(demo.demo)
    app.command("chaos")(chaos.chaos)
    app.command("sql")(lakehouse.sql)
    app.command("recommend")(recommend.recommend)


_register()


def run() -> None:
    """Entry point that turns paystream errors into one clear line and exit code 1."""
    try:
        app()
    except PaystreamError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
