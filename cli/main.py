"""The ``paystream`` command line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

# Rich falls back to 80 columns when stdout is not a terminal (a CI log, `make demo > log`),
# which cuts wide tables such as the demo's reconciliation. Every Console reads COLUMNS when
# it is created, so set it before the sub-apps (and their consoles) are imported.
if not sys.stdout.isatty():
    os.environ.setdefault("COLUMNS", "160")

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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Log debug output, and show Spark's JVM output on start-up."
        ),
    ] = False,
) -> None:
    """Stand up the stack, replay real data, and inspect the results."""
    from paystream.stores.spark import show_jvm_output

    # Without -v the JVM's banner and start-up warnings go to .stack/logs/spark.log.
    show_jvm_output(verbose)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that narrate their routine work at INFO: gremlinpython every client open and
    # close, Alembic each migration step, py4j each Spark gateway call, aiokafka each
    # subscription. Their warnings still show; -v shows everything.
    if not verbose:
        for noisy in ("gremlinpython", "alembic", "py4j", "aiokafka.consumer"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # aiokafka logs whole request structs at DEBUG, the Event Hubs SASL secret included.
    logging.getLogger("aiokafka").setLevel(logging.INFO)


def _register() -> None:
    # Each role owns its commands (<role>/commands/<command>.py); this root only assembles
    # them. They are imported here so that a heavy dependency of one command cannot break
    # the others.
    from api.commands.api import app as api_app
    from chaos.commands.chaos import chaos
    from cli.commands.demo import demo
    from compose.commands.db import app as db_app
    from compose.commands.stack import app as stack_app
    from compose.commands.topics import app as topics_app
    from ingest.commands.contracts import app as contracts_app
    from ingest.commands.import_ import app as import_app
    from ingest.commands.replay import app as replay_app
    from ingest.commands.simulate import simulate
    from lakehouse.commands.features import app as features_app
    from lakehouse.commands.lakehouse import app as lakehouse_app
    from lakehouse.commands.sql import sql
    from ml.commands.backtest import app as backtest_app
    from ml.commands.recommend import recommend
    from ml.commands.train import app as train_app
    from risk.commands.risk import risk
    from streams.commands.dlq import app as dlq_app
    from streams.commands.streams import app as streams_app

    # The risk agent is its own role and deployable; its command keeps its place beside the
    # stream workers it runs with.
    streams_app.command("risk")(risk)
    app.add_typer(stack_app, name="stack")
    app.add_typer(contracts_app, name="contracts")
    app.add_typer(topics_app, name="topics")
    app.add_typer(replay_app, name="replay")
    app.add_typer(import_app, name="import")
    app.add_typer(streams_app, name="streams")
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(db_app, name="db")
    app.add_typer(lakehouse_app, name="lakehouse")
    app.add_typer(features_app, name="features")
    app.add_typer(api_app, name="api")
    app.add_typer(train_app, name="train")
    app.add_typer(backtest_app, name="backtest")
    app.command("simulate")(simulate)
    app.command("demo")(demo)
    app.command("chaos")(chaos)
    app.command("sql")(sql)
    app.command("recommend")(recommend)


_register()


def run() -> None:
    """Entry point: a paystream error is one clear line and exit code 2, never a traceback.

    With ``-v`` the traceback follows the line, for bug reports.
    """
    try:
        app()
    except PaystreamError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        if "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]:
            console.print_exception()
        sys.exit(2)


if __name__ == "__main__":
    run()
