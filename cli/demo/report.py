"""The demo's reports: a live bar per consumer group until the workers caught up, and the
reconciliation of the ledger, Redis, the graph and the dead-letter topic."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from paystream.settings import Settings

if TYPE_CHECKING:
    from harness.worlds import StreamWorld

# Wide enough that the reconciliation tables never truncate an amount.
console = Console(width=140)


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
