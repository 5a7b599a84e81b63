"""``paystream demo``: the main job, end to end, on the local stack."""

from __future__ import annotations

from typing import Annotated

import typer


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
    from cli.demo.pipeline import DemoOptions, run_demo

    options = DemoOptions(limit, workers, keep_workers, lakehouse, serve)
    if not run_demo(options):
        raise typer.Exit(code=1)
