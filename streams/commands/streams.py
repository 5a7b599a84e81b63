"""``paystream streams``: the Faust stream workers."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from paystream.settings import get_settings
from streams.groups import SINKS, SinkName

app = typer.Typer(
    help="Faust workers that validate events and materialize them into the MySQL ledger, "
    "Redis and the Gremlin graph, one consumer group per sink. Run several workers of a sink: "
    "they share its group's partitions.",
    no_args_is_help=True,
)

MetricsPort = Annotated[
    int, typer.Option("--metrics-port", help="Prometheus /metrics port (0: off).")
]
MetricsAddr = Annotated[
    str, typer.Option("--metrics-addr", help="Address /metrics binds to (0.0.0.0 inside a pod).")
]
LogLevel = Annotated[str, typer.Option("--log-level", help="Worker log level.")]


def _parse_sinks(value: str) -> list[SinkName]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in SINKS]
    if not names or unknown:
        raise typer.BadParameter(f"choose from {', '.join(SINKS)} (comma-separated); got {value!r}")
    return [name for name in SINKS if name in names]


@app.command()
def run(
    sinks: Annotated[
        str,
        typer.Option(
            "--sinks",
            help="Comma-separated sinks to run: ledger (the system of record), redis, graph. "
            "Each is its own consumer group; with several, one worker process per sink.",
        ),
    ] = ",".join(SINKS),
    metrics_port: MetricsPort = 0,
    metrics_addr: MetricsAddr = "127.0.0.1",
    log_level: LogLevel = "info",
) -> None:
    """Start stream workers in the foreground (Ctrl-C stops them cleanly).

    By default it starts everything one machine needs: the ledger worker and the Redis and
    graph projections, one process each (with --metrics-port N, sink i serves /metrics on
    N + i). Each creates missing topics and connects to its store, then consumes. The ledger
    acknowledges a batch once it committed it and published its totals to the change feed; a
    projection acknowledges once its store has the batch. Run more of them to scale a sink.
    """
    chosen = _parse_sinks(sinks)
    if len(chosen) > 1:
        from streams.supervise import supervise

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
        raise typer.Exit(supervise(chosen, metrics_port, metrics_addr, log_level))

    from functools import partial

    from paystream.bus.worker import run_worker
    from paystream.ledger.migrate import upgrade
    from streams.app import create_app
    from streams.groups import group_id, sink_topics

    settings = get_settings()
    sink = chosen[0]
    run_worker(
        settings,
        partial(create_app, sink=sink),
        group_id(settings, sink),
        sink_topics(settings, sink),
        metrics_port,
        metrics_addr,
        log_level,
        (lambda: upgrade(settings.mysql)) if sink == "ledger" else None,
    )


@app.command()
def lag() -> None:
    """Print each consumer group's lag per topic: records not yet committed.

    Groups: the ledger, the Redis and graph projections, and the risk agent.
    """
    from rich.console import Console
    from rich.table import Table

    from streams.lag import stream_lag

    settings = get_settings()
    table = Table(title=f"consumer lag on {settings.kafka.bootstrap_servers}")
    for column in ("group", "topic", "lag"):
        table.add_column(column, justify="right" if column == "lag" else "left")
    for group, topics in asyncio.run(stream_lag(settings)).items():
        for topic, behind in topics.items():
            table.add_row(group, topic, f"{behind:,}")
        table.add_row(group, "[b]total[/]", f"[b]{sum(topics.values()):,}[/]", end_section=True)
    Console().print(table)


@app.command("rebuild-redis")
def rebuild_redis() -> None:
    """Rewrite the Redis projection (profiles, totals, 24 h risk windows, live sessions) from
    the MySQL ledger. Workers also do this on their own when Redis has lost its data."""
    from rich.console import Console

    from streams.sinks.rebuild import rebuild_namespace

    settings = get_settings()
    count = rebuild_namespace(settings)
    Console().print(
        f"Redis namespace {settings.streams.namespace!r} rebuilt from {count:,} records"
    )
