"""Fault drills as figures: one row per scenario, written to docs/benchmarks.md.

Run: ``python -m bench.faults`` (stops and starts services of the local stack; nothing else
should be using it). Figures per scenario: ``faults.<scenario>.events_lost``,
``.duplicates``, ``.money_diff_minor`` (all must be 0) and ``.recovery_s``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write_json, write_section
from chaos.scenarios import SCENARIOS, drill_events, run_scenario
from compose.local.stack import LocalStack
from paystream.settings import REPO_ROOT, get_settings

console = Console()


def main(
    events: Annotated[int, typer.Option(help="Events of steady load per scenario.")] = 50_000,
    rate: Annotated[float, typer.Option(help="Load in events/s.")] = 1_000.0,
    scenario: Annotated[list[str] | None, typer.Option(help="Only these scenarios.")] = None,
) -> None:
    """Run every fault scenario and record its reconciliation."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    load = drill_events(events)
    command = f"python -m bench.faults --events {events} --rate {rate:.0f}"
    rows = [
        "## Fault drills",
        "",
        f"Command: `{command}`  ",
        f"Measured: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "| scenario | events sent | accounted for | lost | duplicates | money diff (minor) "
        "| recovery s | worker restarts | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    figures: list[Figure] = []
    for name in scenario or list(SCENARIOS):
        console.log(f"{name}: {len(load):,} events at {rate:,.0f}/s")
        r = run_scenario(settings, name, load, rate, REPO_ROOT / ".stack" / "bench" / "faults")
        console.log(
            f"{name}: lost {r.events_lost}, duplicates {r.duplicates}, money diff "
            f"{r.money_diff_minor}, recovery {r.recovery_s} s, restarts {r.worker_restarts}"
        )
        rows.append(
            f"| {name} | {r.events_sent:,} | {r.events_accounted:,} | {r.events_lost} | "
            f"{r.duplicates} | {r.money_diff_minor} | {r.recovery_s} | {r.worker_restarts} | "
            f"{'; '.join(r.notes) or '—'} |"
        )
        for metric, value, unit in (
            ("events_lost", r.events_lost, "events"),
            ("duplicates", r.duplicates, "events"),
            ("money_diff_minor", r.money_diff_minor, "minor units"),
            ("recovery_s", r.recovery_s, "s"),
        ):
            figures.append(
                Figure(
                    f"faults.{name}.{metric}",
                    unit,
                    [float(value)],
                    command,
                    target="0" if metric != "recovery_s" else None,
                    higher_is_better=False,
                )
            )
    machine_text = write_json(figures)
    rows.insert(3, f"Machine: {machine_text}  ")
    rows += [
        "",
        "Each scenario: a fresh isolated world (6 partitions, two supervised stream workers), "
        "steady `paystream simulate` load, one real failure of the local stack, then a "
        "reconciliation of the ledger and Redis against what was sent. Lost = distinct events "
        "sent minus events the ledger applied; duplicates = captures and refunds booked beyond "
        "the expected ones; money diff = |ledger − expected| + |Redis − ledger| over currencies. "
        "Recovery: from the end of the failure until the ledger's 2 s throughput is back to half "
        "its pre-failure rate, or it has caught up with the load.",
    ]
    write_section("Fault drills", "\n".join(rows) + "\n")


if __name__ == "__main__":
    typer.run(main)
