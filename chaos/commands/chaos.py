"""``paystream chaos``: fault drills on the local stack, each ending in a reconciliation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from paystream.settings import get_settings

if TYPE_CHECKING:
    from rich.table import Table

    from chaos.drill import DrillResult

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

    from chaos.scenarios import SCENARIOS, run_drills

    console = Console()
    chosen = scenario or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s) {unknown}; choose from {SCENARIO_HELP}")
    results = run_drills(get_settings(), chosen, events, rate, lambda line: console.log(line))
    console.print(_table(results, f"fault drills: {events:,} events at {rate:,.0f}/s each"))
    if not all(result.ok for result in results):
        raise typer.Exit(1)


def _table(results: list[DrillResult], title: str) -> Table:
    """One row per drill: what was sent, accounted for, lost, doubled, and the recovery."""
    from rich.table import Table

    table = Table(title=title)
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
    for result in results:
        table.add_row(
            result.scenario,
            f"{result.events_sent:,}",
            f"{result.events_accounted:,}",
            str(result.events_lost),
            str(result.duplicates),
            str(result.money_diff_minor),
            f"{result.recovery_s}",
        )
    return table
