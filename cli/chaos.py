"""``paystream chaos``: fault drills on the local stack, each ending in a reconciliation."""

from __future__ import annotations

from typing import Annotated

import typer

from paystream.settings import REPO_ROOT, get_settings

SCENARIO_HELP = (
    "worker_kill, kafka_restart, mysql_primary_outage, redis_restart, gremlin_restart, "
    "graph_outage, "
    "rebalance (repeatable; default: all)"
)


def chaos(
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help=SCENARIO_HELP)
    ] = None,
    events: Annotated[int, typer.Option(help="Events of steady load per scenario.")] = 50_000,
    rate: Annotated[float, typer.Option(help="Load in events/s.")] = 1_000.0,
) -> None:
    """Inject real failures under steady load and prove nothing was lost or counted twice.

    Each scenario runs in its own isolated world (topics, ledger database, Redis namespace,
    graph namespace) with two supervised stream workers, injects its failure into the shared
    local stack (stopping and starting real services: run it on a machine where nothing else
    uses the stack), waits for the workers to catch up, and reconciles the ledger and Redis
    against what was sent. Exits 1 if any scenario lost or double-counted anything.
    """
    from rich.console import Console
    from rich.table import Table

    from compose.local.stack import LocalStack
    from harness.faults.scenarios import SCENARIOS, drill_events, run_scenario

    console = Console()
    settings = get_settings()
    chosen = scenario or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s) {unknown}; choose from {SCENARIO_HELP}")
    LocalStack(settings).up(lambda line: console.log(line))
    load = drill_events(events)
    table = Table(title=f"fault drills: {events:,} events at {rate:,.0f}/s each")
    for column in (
        "scenario",
        "sent",
        "accounted",
        "lost",
        "duplicates",
        "money diff",
        "recovery s",
    ):
        table.add_column(column, justify="right")
    failed = False
    for name in chosen:
        console.log(f"{name}: running ({len(load) / rate:.0f} s of load)")
        result = run_scenario(settings, name, load, rate, REPO_ROOT / ".stack" / "chaos")
        failed |= not result.ok
        table.add_row(
            name,
            f"{result.events_sent:,}",
            f"{result.events_accounted:,}",
            str(result.events_lost),
            str(result.duplicates),
            str(result.money_diff_minor),
            f"{result.recovery_s}",
        )
        for note in result.notes:
            console.log(f"{name}: {note}")
    console.print(table)
    if failed:
        raise typer.Exit(1)
