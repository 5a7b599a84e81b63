"""``paystream backtest fraud``: the Fraud Detection Handbook's protocol on logged decisions."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml.commands.render import console, print_backtest
from paystream.errors import ConfigurationError
from paystream.settings import get_settings

if TYPE_CHECKING:
    from ml.fraud.dataset import FraudDataset
    from ml.fraud.history_backtest import HistoryRequest

app = typer.Typer(
    help="Backtest detectors on the risk agent's logged decisions and known labels.",
    no_args_is_help=True,
)


class FeatureSource(StrEnum):
    """Which feature vectors a backtest judges the detectors on."""

    OFFLINE = "offline"
    LOGGED = "logged"


def _history_request(
    history: Path | None,
    mapping: Path | None,
    id_prefix: str | None,
    chargeback_delay_days: float,
    namespace: str | None,
) -> HistoryRequest | None:
    from ml.fraud.history_backtest import HistoryRequest
    from paystream.contracts.history import namespace_for

    if history is None:
        return None
    name = namespace or namespace_for(history)
    return HistoryRequest(history, name, mapping, id_prefix, chargeback_delay_days)


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
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="A labelled history file (CSV, CSV.gz, Parquet): backtest it on offline "
            "features computed by the lakehouse, without touching the live stores.",
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="The history's YAML column mapping (default: FILE.mapping.yaml)."),
    ] = None,
    id_prefix: Annotated[str | None, typer.Option(help="Prefix for the history's ids.")] = None,
    chargeback_delay_days: Annotated[
        float, typer.Option(min=0, help="Days from a fraud payment to its chargeback.")
    ] = 7.0,
    namespace: Annotated[
        str | None, typer.Option(help="The history's name in the lakehouse (default: its stem).")
    ] = None,
    features: Annotated[
        FeatureSource | None,
        typer.Option(
            help="offline: point-in-time features of --history; logged: the vectors the "
            "agent scored (audits). Default: offline with --history, else logged."
        ),
    ] = None,
) -> None:
    """Judge the rules, the model and a logistic-regression baseline as they would have lived.

    Reads the risk agent's logged decisions (their features exactly as scored) and the
    fraud labels known now (fraud_chargeback refunds in the ledger). Each fold trains on
    --train-days, skips --delay-days whose labels would not have been known, and tests on
    --test-days. On each test day, cards already known to be compromised leave the ranking.
    Prints AUC ROC, Average Precision and Card Precision@k for each detector and logs the
    run to MLflow (experiment paystream-fraud-backtest).

    With --history FILE the vectors are the file's offline features instead: the lakehouse
    reads the file with the import's mapping and computes every payment's features point in
    time, with the agent's own transforms, and labels come from the file.
    """
    from ml.fraud.backtest import Protocol
    from ml.fraud.backtest_job import run_backtest
    from ml.fraud.train import TrainConfig

    request = _history_request(history, mapping, id_prefix, chargeback_delay_days, namespace)
    offline = request is not None and features is not FeatureSource.LOGGED

    protocol = Protocol(train_days, delay_days, test_days, folds, k, _date(test_end))
    config = TrainConfig(model_name=model_name, seed=seed, threads=threads)

    def loaded(dataset: FraudDataset) -> None:
        console.print(
            f"{len(dataset.frame):,} decided payments, {int(dataset.labels.sum()):,} labelled "
            f"fraud (labels: {dataset.label_source})"
        )

    with console.status("reading decisions and labels from the ledger replica") as status:
        run = run_backtest(
            get_settings(),
            protocol,
            config,
            payment_prefix=payment_prefix or (id_prefix if request and id_prefix else ""),
            promote=promote,
            on_status=status.update,
            on_data=loaded,
            history=request if offline else None,
        )
    print_backtest(run, model_name)
