"""``paystream backtest fraud``: the Fraud Detection Handbook's protocol on logged decisions."""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from paystream.errors import ConfigurationError
from paystream.settings import get_settings

if TYPE_CHECKING:
    from ml.fraud.backtest import Backtest

app = typer.Typer(
    help="Backtest detectors on the risk agent's logged decisions and known labels.",
    no_args_is_help=True,
)
console = Console()

_NAMES = {
    "auc_roc": "AUC ROC",
    "average_precision": "Average Precision",
    "card_precision_at_k": "Card Precision@{k} (daily mean)",
}


def _fmt(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "—"


def results_table(result: Backtest) -> Table:
    """Each metric for the rules, the model and the logistic baseline, fold means."""
    p = result.protocol
    folds = result.folds
    title = (
        f"backtest: train {p.train_days} d, delay {p.delay_days} d, test {p.test_days} d, "
        f"{len(folds)} fold(s); newest test {folds[0].fold.test_start}..{folds[0].fold.test_end}"
    )
    table = Table("metric", "rules", "model", "logistic", "model − best other", title=title)
    for metric, label in _NAMES.items():
        values = [result.mean(d, metric) for d in ("rules", "model", "logistic")]
        others = [v for v in (values[0], values[2]) if math.isfinite(v)]
        gain = values[1] - max(others) if others and math.isfinite(values[1]) else math.nan
        table.add_row(
            label.format(k=p.k), *map(_fmt, values), f"{gain:+.3f}" if math.isfinite(gain) else "—"
        )
    return table


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(f"--test-end {value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def fraud(
    train_days: Annotated[int, typer.Option(min=1, help="Days of the training window.")] = 7,
    delay_days: Annotated[
        int,
        typer.Option(min=0, help="Days between training and test whose labels are not known yet."),
    ] = 7,
    test_days: Annotated[int, typer.Option(min=1, help="Days of the test window.")] = 7,
    folds: Annotated[
        int,
        typer.Option(min=1, help="Prequential folds, each one test window further back."),
    ] = 1,
    test_end: Annotated[
        str | None,
        typer.Option(help="Day after the newest test day (default: after the last decision)."),
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Cards investigators check per day.")] = 100,
    payment_prefix: Annotated[
        str,
        typer.Option(help="Only payments whose id starts with this (an import's --id-prefix)."),
    ] = "",
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Register the newest fold's model; make it champion only if its mean "
            "Average Precision beats the champion's on the same test folds.",
        ),
    ] = False,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "paystream-fraud",
    seed: Annotated[int, typer.Option(help="Random seed of the models.")] = 0,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for fitting (default: all cores).")
    ] = None,
) -> None:
    """Judge the rules, the model and a logistic-regression baseline as they would have lived.

    Reads the risk agent's logged decisions (their features exactly as scored) and the
    fraud labels known now (fraud_chargeback refunds in the ledger). Each fold trains on
    --train-days, skips --delay-days whose labels would not have been known, and tests on
    --test-days. On each test day, cards already known to be compromised leave the ranking.
    Prints AUC ROC, Average Precision and Card Precision@k for each detector and logs the
    run to MLflow (experiment paystream-fraud-backtest).
    """
    from ml.fraud.backtest import Protocol, backtest
    from ml.fraud.backtest_log import log_backtest
    from ml.fraud.dataset import load_dataset
    from ml.fraud.train import TrainConfig

    settings = get_settings()
    protocol = Protocol(train_days, delay_days, test_days, folds, k, _date(test_end))
    config = TrainConfig(model_name=model_name, seed=seed, threads=threads)
    with console.status("reading decisions and labels from the ledger replica"):
        dataset = load_dataset(
            settings.mysql,
            settings.lakehouse,
            label_source="ledger",
            payment_prefix=payment_prefix,
        )
    console.print(
        f"{len(dataset.frame):,} decided payments, {int(dataset.labels.sum()):,} labelled "
        f"fraud (labels: {dataset.label_source})"
    )
    with console.status("fitting and scoring folds") as status:
        result = backtest(
            dataset,
            protocol,
            config,
            on_fold=lambda f: status.update(
                f"fold {f.fold.index}: {f.test_rows:,} test payments, {f.test_frauds} fraud"
            ),
        )
        status.update("logging to MLflow")
        logged = log_backtest(dataset, result, config, settings.mlflow, promote=promote)
    console.print(results_table(result))
    for f in result.folds:
        empty = (
            f", empty features filled: {', '.join(f.empty_features)}" if f.empty_features else ""
        )
        console.print(
            f"fold {f.fold.index}: train {f.train_rows:,} ({f.train_frauds} fraud), test "
            f"{f.test_rows:,} ({f.test_frauds} fraud), "
            f"{f.compromised_cards_per_day:.1f} compromised cards/day{empty}"
        )
    console.print(f"MLflow run {logged.run_id} (experiment paystream-fraud-backtest)")
    if logged.promotion is not None:
        verdict = "[green]promoted[/]" if logged.promotion.promoted else "[yellow]not promoted[/]"
        console.print(f"{model_name} v{logged.version} {verdict}: {logged.promotion.reason}")
