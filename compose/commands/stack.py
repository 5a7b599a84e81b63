"""``paystream stack``: the local process stack (compose/local)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from paystream.settings import get_settings

if TYPE_CHECKING:
    from compose.local.stack import LocalStack

app = typer.Typer(
    help="Run every backing service as a local process: Kafka (KRaft), MariaDB primary + "
    "replica, Redis, Gremlin Server and MLflow, plus the Delta jars for Spark. "
    "Downloads are cached in .cache/, state and logs live in .stack/.",
    no_args_is_help=True,
)
console = Console()

ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Services to act on (default: all but the optional ones): "
        "redis, mysql-primary, mysql-replica, kafka, gremlin, mlflow; optional: sql, "
        "spark-master, spark-worker, streams, risk, lakehouse."
    ),
]


def _stack() -> LocalStack:
    from compose.local.stack import LocalStack

    return LocalStack(get_settings())


@app.command()
def up(
    services: ServicesArg = None,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            help="Optional services to start too: sql (the SQL endpoint for BI tools over "
            "the built gold tables; see docs/bi.md), spark-cluster (a Spark standalone master "
            "and worker for `lakehouse build --master spark://127.0.0.1:7077`), pipeline "
            "(`streams run` and the risk agent, restarted after a crash; `make demo` leaves "
            "them running), lakehouse (`lakehouse run`, which keeps gold fresh; needs a "
            "built lakehouse).",
        ),
    ] = None,
) -> None:
    """Install what is missing, start what is not running, and wait until all are healthy.

    Idempotent: running it again while the stack is up changes nothing.
    """
    started_at = time.monotonic()
    with console.status("starting the local stack…"):
        started = _stack().up(lambda line: console.log(line), services, with_)
    took = time.monotonic() - started_at
    if started:
        console.print(f"[green]stack up[/]: started {', '.join(started)} in {took:.1f} s")
    else:
        console.print("[green]stack up[/]: everything was already running; nothing changed")
    _print_status()


@app.command()
def down(services: ServicesArg = None) -> None:
    """Stop the services that `stack up` started (and nothing else). Data is kept.

    Without a service list, an API left serving by `paystream demo` is stopped first."""
    if not services:
        from compose.local.api_process import stop_api

        stop_api(get_settings())
    stopped = _stack().down(lambda line: console.log(line), services)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


def _print_status() -> None:
    table = Table("service", "port", "pid", "health", "restarts")
    colours = {"healthy": "green", "starting": "yellow", "stopped": "dim", "foreign": "red"}
    for row in _stack().status():
        state = row.state if row.state != "foreign" else "port taken by another process"
        table.add_row(
            row.name,
            str(row.port),
            str(row.pid or "-"),
            f"[{colours[row.state]}]{state}[/]",
            "-" if row.restarts is None else str(row.restarts),
        )
    console.print(table)


@app.command()
def status() -> None:
    """List each service with its port, pid and health."""
    _print_status()


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="Service whose log to show.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
) -> None:
    """Show the end of one service's log (.stack/logs/<service>.log)."""
    console.print(_stack().logs(service, lines), markup=False, highlight=False)
