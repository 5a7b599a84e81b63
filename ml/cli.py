"""``paystream train``: train models, log them to MLflow, promote by alias when better.

One command per model; the logic lives in ``ml/`` and this module only parses options and
prints results.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ml.recommend_cli import train_recommender
from paystream.settings import get_settings

if TYPE_CHECKING:
    from ml.fraud.train import TrainResult

app = typer.Typer(
    help="Train models on the platform's data and register them in MLflow.",
    no_args_is_help=True,
)
console = Console()


def _fmt(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "—"


def _fraud_table(result: TrainResult) -> Table:
    ev = result.evaluation
    table = Table(
        title=(
            f"{result.model_name} v{result.version} vs rules baseline — holdout: "
            f"{ev.holdout_rows} payments, {ev.holdout_positives} fraud, {ev.holdout_days} day(s)"
        )
    )
    table.add_column("figure")
    table.add_column("model", justify="right")
    table.add_column("rules", justify="right")
    table.add_column("model / rules", justify="right")
    k = "card_precision_at_k"
    rows = [
        ("AUC-PR", "auc_pr"),
        ("precision @ decline", "precision_at_decline"),
        ("recall @ decline", "recall_at_decline"),
        ("precision @ review", "precision_at_review"),
        ("recall @ review", "recall_at_review"),
        ("Card Precision@k (daily mean)", k),
    ]
    for label, name in rows:
        model, rules = getattr(ev.model, name), getattr(ev.rules, name)
        ratio = model / rules if math.isfinite(model) and math.isfinite(rules) and rules else None
        table.add_row(label, _fmt(model), _fmt(rules), "—" if ratio is None else f"{ratio:.2f}")
    mt, rt = ev.model_thresholds, ev.rules_thresholds
    table.add_row("review threshold", _fmt(mt.review_threshold), _fmt(rt.review_threshold), "")
    table.add_row("decline threshold", _fmt(mt.decline_threshold), _fmt(rt.decline_threshold), "")
    return table


@app.command()
def fraud(
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new version champion if its AUC-PR beats the champion's on the "
            "same holdout (the first model always becomes champion).",
        ),
    ] = False,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Ground-truth labels, JSON lines with payment_id (paystream simulate's "
            ".stack/simulate/labels-<seed>.jsonl). Default: gold fraud_labels if built, "
            "else fraud_chargeback refunds in the ledger.",
        ),
    ] = None,
    holdout_days: Annotated[
        int | None,
        typer.Option(
            "--holdout-days",
            min=1,
            help="Hold out the last N days for evaluation (default: the last 30% of days).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the model.")] = 0,
    model_name: Annotated[
        str, typer.Option("--model-name", help="Registered model name in MLflow.")
    ] = "paystream-fraud",
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment of the run.")
    ] = "paystream-fraud",
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads for training (default: all cores)."),
    ] = None,
) -> None:
    """Train the fraud model on the risk agent's logged decisions and register it.

    Reads decisions and labels from the ledger's read replica, splits by time, fits a
    gradient-boosted model, picks review/decline thresholds on validation data, compares it
    with the rules-only baseline on the held-out days, logs everything to MLflow and
    registers the model as the challenger.
    """
    from ml.fraud.train import TrainConfig, run

    config = TrainConfig(
        model_name=model_name,
        experiment=experiment,
        holdout_days=holdout_days,
        seed=seed,
        threads=threads,
    )
    with console.status("training the fraud model") as status:
        result = run(
            get_settings(),
            config,
            labels_path=labels,
            promote=promote,
            on_step=lambda step: status.update(f"{step}…"),
        )
    console.print(_fraud_table(result))
    ev = result.evaluation
    console.print(
        f"data {result.data_version} · thresholds from {ev.threshold_source} · "
        f"MLflow run {result.run_id}"
    )
    console.print(
        f"registered [bold]{result.model_name}[/] v{result.version} as challenger "
        f"(tags review_threshold={ev.model_thresholds.review_threshold:.4f}, "
        f"decline_threshold={ev.model_thresholds.decline_threshold:.4f})"
    )
    if result.promotion is not None:
        verdict = (
            "[green]promoted to champion[/]"
            if result.promotion.promoted
            else ("[yellow]not promoted[/]")
        )
        console.print(f"{verdict}: {result.promotion.reason}")


# The recommender's options and printing live beside it, in ml/recommend_cli.py.
app.command("recommender")(train_recommender)
