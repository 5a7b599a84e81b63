"""``paystream demo``: the main job, end to end, on the local stack."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from paystream.settings import REPO_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from harness.worlds import StreamWorld

# Wide enough that the reconciliation tables never truncate an amount.
console = Console(width=140)


def demo(
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="`paystream streams run` commands to start; each runs the ledger, Redis and "
            "graph sinks, one process each.",
        ),
    ] = 1,
    keep_workers: Annotated[
        bool, typer.Option("--keep-workers", help="Leave the workers running at the end.")
    ] = False,
    lakehouse: Annotated[
        bool,
        typer.Option("--lakehouse/--no-lakehouse", help="Build the Delta lakehouse at the end."),
    ] = True,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Train and serve recommendations from gold, then leave the API serving.",
        ),
    ] = True,
) -> None:
    """Run the main job end to end and prove the stores agree.

    Steps: stack up → ledger migrations → topics → stream workers → Online Retail replay →
    wait until the workers have consumed everything → reconciliation of Kafka, the MySQL
    ledger, Redis and the graph, to the penny. Every step is idempotent: replayed events carry
    the same event ids, so a second run changes no totals. A risk agent scores every payment
    meanwhile. Then the lakehouse is built (Kafka → bronze → silver → gold) and gold's merchant
    statements are reconciled with the ledger; the recommender is trained on gold, registered
    in MLflow and served to Redis; the API is left serving, with example calls printed; and
    the SQL endpoint BI tools connect to is left serving gold (docs/bi.md).
    """
    from compose import cli as stack
    from compose.local.stack import LocalStack
    from harness.worlds import StreamWorld
    from paystream.bus import cli as topics
    from paystream.ledger.migrate import upgrade
    from paystream.producers import cli as replay
    from paystream.producers.publish import DEFAULT_FILE

    settings = get_settings()
    started = time.monotonic()
    console.print(Rule("1. local stack"))
    with console.status("starting the local stack…"):
        LocalStack(settings).up(lambda line: console.log(line))
    # On a fresh checkout, stack up has just generated the API secrets (.stack/secrets.env):
    # read the settings again so that the keys issued below use them.
    settings = get_settings()
    stack.status()

    console.print(Rule("2. ledger schema and topics"))
    upgrade(settings.mysql)
    topics.create()

    console.print(Rule("3. stream workers: ledger, Redis and graph, one consumer group each"))
    world = StreamWorld(settings, "paystream", REPO_ROOT / ".stack" / "logs" / "demo")
    for _ in range(workers):
        proc = world.start_worker()
        console.print(f"streams run pid {proc.pid}: one process per sink (log: {world.logs})")
    risk = world.start_worker(kind="risk")
    console.print(f"risk agent pid {risk.pid}")
    try:
        console.print(Rule("4. Online Retail replay"))
        replay.online_retail(path=DEFAULT_FILE, rate=None, limit=limit, dry_run=False)

        console.print(Rule("5. waiting for the workers to consume everything"))
        stream_started = time.monotonic()
        follow_lag(settings, world, timeout_s=900)
        world.wait_all_caught_up(timeout_s=60)
        console.print(f"all consumer groups caught up in {time.monotonic() - stream_started:.0f} s")

        console.print(Rule("6. what each store holds"))
        topics.counts()
        ok = print_reconciliation(settings)
    finally:
        if not keep_workers:
            for proc in world.workers:
                world.kill(proc, sig=15)
    if lakehouse:
        # After the workers stopped: Spark gets the cores, and the ledger is final.
        from lakehouse.cli import build_lakehouse, print_gold_reconciliation

        console.print(Rule("7. lakehouse: Kafka → bronze → silver → gold"))
        build_lakehouse(settings, graph=False)
        ok = print_gold_reconciliation(settings) and ok
        if serve:
            from cli import demo_serving
            from compose.local.api_process import start_api

            console.print(Rule("8. recommender: train on gold, register, serve to Redis"))
            demo_serving.train_recommender(settings, console)
            console.print(Rule("9. the API"))
            start_api(settings)
            demo_serving.print_example_calls(settings, console)
            console.print(Rule("10. the SQL endpoint for BI tools"))
            demo_serving.start_sql_endpoint(settings, console)
    console.print(f"[green]done[/] in {time.monotonic() - started:.0f} s")
    if not ok:
        raise typer.Exit(code=1)


def follow_lag(settings: Settings, world: StreamWorld, timeout_s: float) -> None:
    """A live bar per consumer group (ledger, projections, risk agent) until every lag is 0.

    Each bar's total is the most the group was behind; Rich derives events/s and the ETA from
    how fast the lag drains.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    from streams.lag import stream_lag

    columns = (
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9} ev/s"),
        TimeRemainingColumn(),
    )
    deadline = time.monotonic() + timeout_s
    tasks: dict[str, TaskID] = {}
    most: dict[str, int] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        while True:
            lag = {g: sum(t.values()) for g, t in asyncio.run(stream_lag(settings)).items()}
            for group, behind in lag.items():
                most[group] = max(most.get(group, 0), behind)
                if group not in tasks:
                    tasks[group] = progress.add_task(group, total=most[group] or 1, rate="-")
                task = tasks[group]
                progress.update(task, total=most[group] or 1, completed=most[group] - behind)
                speed = progress.tasks[task].speed
                progress.update(task, rate=f"{speed:,.0f}" if speed else "-")
            # The ledger comes first in the sample, so a zero for it means the change feed is
            # complete by the time the projections read zero.
            if not any(lag.values()):
                return
            world.check_workers()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers did not catch up in {timeout_s:.0f} s: {lag}")
            time.sleep(1.0)


def print_reconciliation(settings: Settings) -> bool:
    """Print the ledger, Redis, graph and dead-letter figures; True if they all agree."""
    from paystream.bus.deadletters import read_dead_letters
    from paystream.money import format_minor_units
    from paystream.stores.mysql import Database
    from streams.reconcile import reconcile
    from streams.sinks.graph import GremlinGraphSink
    from streams.sinks.redis_state import RedisStateSink

    database = Database(settings.mysql)
    redis_sink = RedisStateSink(settings.redis, namespace=settings.streams.namespace)
    graph = GremlinGraphSink(settings.gremlin, namespace=f"{settings.streams.namespace}:")
    try:
        report = reconcile(database, redis_sink, graph)
    finally:
        graph.close()
        redis_sink.close()
        database.dispose()
    dead = asyncio.run(read_dead_letters(settings.kafka))

    rows = Table("ledger table (MySQL)", "rows", title="ledger")
    for table, count in report.ledger_rows.items():
        rows.add_row(table, f"{count:,}")
    console.print(rows)

    money = Table(
        "currency",
        "captured (ledger)",
        "captured (Redis)",
        "refunded (ledger)",
        "refunded (Redis)",
        "payments table",
        title="merchant money, minor units reconciled",
    )
    for currency, ledger in sorted(report.ledger_money.items()):
        in_redis = report.redis_money.get(currency)
        money.add_row(
            currency,
            format_minor_units(ledger.captured_minor, currency),
            format_minor_units(in_redis.captured_minor, currency) if in_redis else "-",
            format_minor_units(ledger.refunded_minor, currency),
            format_minor_units(in_redis.refunded_minor, currency) if in_redis else "-",
            format_minor_units(report.payments_captured.get(currency, 0), currency),
        )
    console.print(money)

    graph_table = Table("graph element", "count", title="graph (Gremlin)")
    for label, count in sorted(report.graph_counts.items()):
        graph_table.add_row(label, f"{count:,}")
    console.print(graph_table)
    console.print(f"dead letters: {len(dead):,}")
    if report.ok:
        console.print("[green]reconciled: ledger, Redis and payments agree to the minor unit[/]")
    else:
        for line in report.mismatches[:20]:
            console.print(f"[red]mismatch[/] {line}")
    return report.ok
