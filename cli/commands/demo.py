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
            help="`paystream streams run` commands for the replay: the stack's own, which "
            "keeps running, plus N-1 more stopped at the end.",
            min=1,
        ),
    ] = 1,
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Spark's and Hadoop's start-up output and warnings (by default they go "
            "to .stack/logs/spark.log).",
        ),
    ] = False,
) -> None:
    """Run the main job end to end and prove the stores agree.

    Steps: stack up → ledger migrations → topics → the pipeline (stream workers and risk
    agent, left running as stack services) → Online Retail replay →
    wait until the workers have consumed everything → reconciliation of Kafka, the MySQL
    ledger, Redis and the graph, to the penny. Every step is idempotent: replayed events carry
    the same event ids, so a second run changes no totals. A risk agent scores every payment
    meanwhile. Then the lakehouse is built (Kafka → bronze → silver → gold) and gold's merchant
    statements are reconciled with the ledger; the recommender is trained on gold, registered
    in MLflow and served to Redis; the API is left serving, with example calls printed; and
    the SQL endpoint BI tools connect to is left serving gold (docs/bi.md).
    """
    from cli.demo.pipeline import DemoOptions, run_demo
    from paystream.stores.spark import show_jvm_output

    if verbose:
        show_jvm_output()

    options = DemoOptions(limit, workers, lakehouse, serve)
    if not run_demo(options):
        raise typer.Exit(code=1)
