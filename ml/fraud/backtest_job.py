"""``paystream backtest fraud`` as one function: read the logged decisions and their labels,
run the protocol's folds, and log the result to MLflow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ml.fraud.backtest import Backtest, FoldResult, Protocol, backtest
from ml.fraud.backtest_log import Logged, log_backtest
from ml.fraud.dataset import FraudDataset, load_dataset
from ml.fraud.history_backtest import HistoryRequest, build_offline_features
from ml.fraud.offline_dataset import load_offline_dataset
from ml.fraud.train import TrainConfig
from paystream.contracts.history import HistoryPaths
from paystream.settings import Settings


@dataclass(frozen=True)
class BacktestRun:
    """A finished backtest: its data, its folds' results, and what MLflow recorded."""

    dataset: FraudDataset
    result: Backtest
    logged: Logged


def _quiet(_: str) -> None:
    """The default progress callback: say nothing."""


def run_backtest(
    settings: Settings,
    protocol: Protocol,
    config: TrainConfig,
    *,
    payment_prefix: str = "",
    promote: bool = False,
    on_status: Callable[[str], None] = _quiet,
    on_data: Callable[[FraudDataset], None] | None = None,
    history: HistoryRequest | None = None,
) -> BacktestRun:
    """Backtest the rules, the model and the logistic baseline on the logged decisions.

    Args:
        payment_prefix: only payments whose id starts with this (an import's id prefix).
        promote: register the newest fold's model and promote it when it beats the champion.
        on_status: told what the run is doing, for a status line.
        on_data: given the dataset once it is read, before any fold is fitted.
        history: backtest this file on its offline features instead of the logged decisions.
    """
    if history is None:
        on_status("reading decisions and labels from the ledger replica")
        dataset = load_dataset(
            settings.mysql,
            settings.lakehouse,
            label_source="ledger",
            payment_prefix=payment_prefix,
        )
    else:
        on_status("computing the history's offline features (Spark)")
        build_offline_features(history)
        on_status("reading the offline features")
        paths = HistoryPaths.of(settings.lakehouse.root, history.namespace)
        dataset = load_offline_dataset(paths.features)
    if on_data is not None:
        on_data(dataset)
    on_status("fitting and scoring folds")

    def fold_done(fold: FoldResult) -> None:
        on_status(
            f"fold {fold.fold.index}: {fold.test_rows:,} test payments, {fold.test_frauds} fraud"
        )

    result = backtest(dataset, protocol, config, on_fold=fold_done)
    on_status("logging to MLflow")
    logged = log_backtest(dataset, result, config, settings.mlflow, promote=promote)
    return BacktestRun(dataset, result, logged)
