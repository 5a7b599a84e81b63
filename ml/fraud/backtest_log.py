"""A backtest's record in MLflow, and promotion judged on the same protocol.

Every backtest is one MLflow run of the ``paystream-fraud-backtest`` experiment: the
protocol as params, each detector's fold-mean metrics (``model_average_precision``,
``rules_card_precision_at_k``, ...) and the per-fold values as steps. With ``promote`` the
latest fold's model is registered and becomes champion only if its mean Average Precision
over the same test folds beats the current champion's, re-scored on those very rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ml.fraud.backtest import DETECTORS, METRICS, Backtest, _days
from ml.fraud.dataset import FraudDataset
from ml.fraud.evaluate import pick_thresholds
from ml.fraud.model import empty_columns, fill_empty, fraud_scores
from ml.fraud.registry import champion_auc_pr, log_model, register_version
from ml.fraud.train import TrainConfig
from paystream.settings import MLflowSettings
from paystream.stores import mlflow as registry

EXPERIMENT = "paystream-fraud-backtest"
PROMOTION_METRIC = "backtest_average_precision"


@dataclass(frozen=True)
class Logged:
    """Where the backtest went in MLflow, and what promotion decided."""

    run_id: str
    version: str | None = None
    promotion: registry.Promotion | None = None
    champion_value: float | None = None
    note: str = ""


def _champion_mean_ap(
    mlflow_settings: MLflowSettings, dataset: FraudDataset, result: Backtest, name: str
) -> tuple[float | None, str]:
    days = _days(dataset)
    values, note = [], "no champion yet"
    for fold in result.folds:
        f = fold.fold
        test = (days >= f.test_start) & (days < f.test_end)
        train = (days >= f.train_start) & (days < f.train_end)
        rows = fill_empty(dataset.matrix[test], empty_columns(dataset.matrix[train]))
        _, value, note = champion_auc_pr(mlflow_settings, name, rows, dataset.labels[test])
        if value is None:
            return None, note
        values.append(value)
    return float(np.mean(values)), f"champion mean AP {np.mean(values):.4f} over the same folds"


def log_backtest(
    dataset: FraudDataset,
    result: Backtest,
    config: TrainConfig,
    mlflow_settings: MLflowSettings,
    *,
    promote: bool = False,
) -> Logged:
    """Log the backtest as one run; with ``promote``, register and maybe promote its model.

    Raises:
        ServiceUnavailableError: MLflow does not answer.
    """
    import mlflow

    registry.client(mlflow_settings)  # fails fast, naming the setting, if MLflow is down
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"backtest-{dataset.data_version[:40]}") as run:
        protocol = asdict(result.protocol)
        protocol["test_end"] = str(protocol["test_end"])
        mlflow.log_params(
            {
                **protocol,
                "data_version": dataset.data_version,
                "label_source": dataset.label_source,
                "folds_run": len(result.folds),
                "seed": config.seed,
            }
        )
        for detector in DETECTORS:
            for metric in METRICS:
                mean = result.mean(detector, metric)
                if math.isfinite(mean):
                    mlflow.log_metric(f"{detector}_{metric}", mean)
                for fold in result.folds:
                    value = fold.metrics[detector][metric]
                    if math.isfinite(value):
                        mlflow.log_metric(f"fold_{detector}_{metric}", value, step=fold.fold.index)
        mlflow.log_dict({"folds": [_fold_dict(f) for f in result.folds]}, "backtest.json")
        model_info = log_model(result.model, dataset.matrix[:5]) if promote else None
        run_id = run.info.run_id
    if not promote or model_info is None:
        return Logged(run_id)

    latest = result.folds[0].fold
    days = _days(dataset)
    test = (days >= latest.test_start) & (days < latest.test_end)
    scores = fraud_scores(result.model, dataset.matrix[test])
    thresholds = pick_thresholds(
        dataset.labels[test], scores, config.decline_precision, config.review_recall
    )
    value = result.mean("model", "average_precision")
    version = register_version(
        mlflow_settings,
        model_info.model_uri,
        config.model_name,
        thresholds,
        {"data_version": dataset.data_version, PROMOTION_METRIC: f"{value:.6f}", "run_id": run_id},
    )
    champion, note = _champion_mean_ap(mlflow_settings, dataset, result, config.model_name)
    promotion = registry.promote_if_better(
        mlflow_settings, config.model_name, version, PROMOTION_METRIC, value, champion
    )
    return Logged(run_id, version, promotion, champion, note)


def _fold_dict(fold: Any) -> dict[str, Any]:
    f = fold.fold
    return {
        "index": f.index,
        "train": [str(f.train_start), str(f.train_end)],
        "test": [str(f.test_start), str(f.test_end)],
        "metrics": fold.metrics,
        "train_rows": fold.train_rows,
        "train_frauds": fold.train_frauds,
        "test_rows": fold.test_rows,
        "test_frauds": fold.test_frauds,
        "compromised_cards_per_day": fold.compromised_cards_per_day,
        "empty_features": fold.empty_features,
        "card_precision_ceiling": fold.card_precision_ceiling,
        "chosen_hyperparameters": fold.chosen,
        "selection_blocks": fold.selection_blocks,
    }
