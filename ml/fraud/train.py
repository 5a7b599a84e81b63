"""Train, evaluate, log and register the fraud model; promote it only when it is better.

The model is a ``HistGradientBoostingClassifier`` on
:data:`paystream.contracts.fraud_features.FEATURES` rows (``NaN`` = missing, routed by the
trees), optionally blended with a logistic regression (:mod:`ml.fraud.model`). The data is
split by time (:mod:`ml.fraud.split`): the model fits on the early part of the training period, the
operating thresholds are chosen on its later part (validation), and every figure is
measured on the held-out last days beside the rules-only baseline.

The registered model version carries what the risk agent needs as tags:

* ``review_threshold`` / ``decline_threshold``: decline when ``score >= decline``, send to
  review when ``score >= review``, approve otherwise (``score`` = ``predict_proba[:, 1]``);
* ``features``: the comma-joined feature names, in the model's column order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.fraud.dataset import DatasetError, FraudDataset, load_dataset
from ml.fraud.evaluate import Scorecard, Thresholds, pick_thresholds, scorecard
from ml.fraud.model import build_model, empty_columns, fill_empty, fraud_scores
from ml.fraud.registry import champion_auc_pr, log_model, register_version
from ml.fraud.split import TemporalSplit, temporal_split
from paystream.contracts.fraud_features import FEATURES
from paystream.settings import MLflowSettings, Settings
from paystream.stores import mlflow as registry
from paystream.stores.fraud_model import (
    DECLINE_TAG,
    MODEL_NAME,
    REVIEW_TAG,
)

log = logging.getLogger(__name__)

EXPERIMENT = "paystream-fraud"
METRIC = "auc_pr"

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default progress callback: say nothing."""


@dataclass(frozen=True)
class TrainConfig:
    """How to split, fit and pick thresholds; every field is logged as an MLflow param."""

    model_name: str = MODEL_NAME
    experiment: str = EXPERIMENT
    holdout_days: int | None = None
    holdout_fraction: float = 0.3
    validation_fraction: float = 0.2
    seed: int = 0
    decline_precision: float = 0.8
    review_recall: float = 0.8
    card_k: int = 100
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    max_depth: int | None = None
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    # Fraud is rare; balancing the classes keeps the trees from ignoring it. Scores are then
    # not calibrated probabilities, which is why thresholds are chosen on data, not fixed.
    class_weight: str | None = "balanced"
    # Average the boosting model's probability with the logistic regression's (see
    # ml.fraud.model); prequential validation turns it on when it scores better.
    blend_logistic: bool = False
    # OpenMP threads of fit/predict; None = every core. On a busy shared machine one thread
    # is several times faster than all of them fighting over the cores.
    threads: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """Model and rules baseline on the same holdout, each at its own thresholds."""

    model: Scorecard
    rules: Scorecard
    model_thresholds: Thresholds
    rules_thresholds: Thresholds
    threshold_source: str
    holdout_rows: int
    holdout_positives: int
    holdout_days: int


@dataclass(frozen=True)
class Fitted:
    """A fitted model with its split and evaluation (nothing logged yet)."""

    model: Any  # the estimator build_model made: boosting, or boosting blended with logistic
    split: TemporalSplit
    evaluation: Evaluation
    holdout_scores: npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced."""

    run_id: str
    model_name: str
    version: str
    model_uri: str
    data_version: str
    evaluation: Evaluation
    promotion: registry.Promotion | None = None
    champion_auc_pr: float | None = None
    notes: list[str] = field(default_factory=list)


def fit_and_evaluate(dataset: FraudDataset, config: TrainConfig) -> Fitted:
    """Split by time, fit, choose thresholds on validation, evaluate on the holdout.

    Raises:
        DatasetError: a period lacks the fraud it needs (fit: both classes; holdout: one
            positive at least).
        SplitError: too few days for the split asked.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _fit_and_evaluate(dataset, config)


def _fit_and_evaluate(dataset: FraudDataset, config: TrainConfig) -> Fitted:
    split = temporal_split(
        dataset.times, config.holdout_days, config.holdout_fraction, config.validation_fraction
    )
    y = dataset.labels
    frame = dataset.frame
    if len(set(y[split.fit].tolist())) < 2:
        raise DatasetError(
            "the fit period needs both fraud and legitimate payments; collect more days "
            "or shorten the holdout (--holdout-days)"
        )
    if not y[split.holdout].any():
        raise DatasetError(
            "the holdout period has no fraud label, so AUC-PR is undefined there; "
            "lengthen --holdout-days or wait for chargebacks to arrive"
        )
    fit_rows = dataset.matrix[split.fit]
    model = build_model(config).fit(fill_empty(fit_rows, empty_columns(fit_rows)), y[split.fit])
    # Thresholds come from data the model did not fit; in-sample scores only as a fallback.
    pick = split.validation if y[split.validation].any() else split.fit
    source = "validation" if pick is split.validation else "fit (no fraud in validation)"
    rules = frame["rules_score"].to_numpy(dtype=np.float64)
    model_thresholds = pick_thresholds(
        y[pick],
        fraud_scores(model, dataset.matrix[pick]),
        config.decline_precision,
        config.review_recall,
    )
    rules_thresholds = pick_thresholds(
        y[pick], rules[pick], config.decline_precision, config.review_recall
    )
    hold = split.holdout
    days = [t.date() for t in frame["authorized_at"][hold].dt.to_pydatetime()]
    cards = list(frame["card"][hold])
    holdout_scores = fraud_scores(model, dataset.matrix[hold])
    evaluation = Evaluation(
        model=scorecard(y[hold], holdout_scores, model_thresholds, days, cards, config.card_k),
        rules=scorecard(y[hold], rules[hold], rules_thresholds, days, cards, config.card_k),
        model_thresholds=model_thresholds,
        rules_thresholds=rules_thresholds,
        threshold_source=source,
        holdout_rows=int(hold.sum()),
        holdout_positives=int(y[hold].sum()),
        holdout_days=len(set(days)),
    )
    return Fitted(model, split, evaluation, holdout_scores)


def _pr_curve_figure(y: npt.NDArray[np.int_], model: Any, rules: Any, ev: Evaluation) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, scores, card in (("model", model, ev.model), ("rules", rules, ev.rules)):
        precision, recall, _ = precision_recall_curve(y, scores)
        ax.step(recall, precision, where="post", label=f"{name} (AUC-PR {card.auc_pr:.3f})")
    ax.plot(
        [ev.model.recall_at_decline],
        [ev.model.precision_at_decline],
        "o",
        label="model decline threshold",
    )
    ax.set(xlabel="recall", ylabel="precision", title="Fraud, holdout", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def _params(config: TrainConfig, dataset: FraudDataset, fitted: Fitted) -> dict[str, Any]:
    y = dataset.labels
    split = fitted.split
    return {
        **{k: v for k, v in asdict(config).items() if k != "experiment"},
        "features": ",".join(FEATURES),
        "n_features": len(FEATURES),
        "data_version": dataset.data_version,
        "label_source": dataset.label_source,
        "rows_fit": int(split.fit.sum()),
        "rows_validation": int(split.validation.sum()),
        "rows_holdout": int(split.holdout.sum()),
        "positives_fit": int(y[split.fit].sum()),
        "positives_validation": int(y[split.validation].sum()),
        "positives_holdout": int(y[split.holdout].sum()),
        "validation_start": split.validation_start.isoformat(),
        "holdout_start": split.holdout_start.isoformat(),
        "threshold_source": fitted.evaluation.threshold_source,
    }


def train_fraud(
    dataset: FraudDataset,
    config: TrainConfig,
    mlflow_settings: MLflowSettings,
    *,
    promote: bool = False,
    on_step: Step = _quiet,
) -> TrainResult:
    """Fit and evaluate, log the run to MLflow, register a ``challenger``; maybe promote.

    With ``promote`` the current champion is re-scored on this run's holdout and the
    challenger becomes champion only if its AUC-PR is higher (the first model always is).

    Raises:
        ServiceUnavailableError: MLflow does not answer.
        DatasetError / SplitError: the data cannot train or judge a model.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    client = registry.client(mlflow_settings)
    assert isinstance(client, MlflowClient)
    on_step(f"fitting on {len(dataset.frame)} decided payments")
    fitted = fit_and_evaluate(dataset, config)
    ev = fitted.evaluation
    y_hold = dataset.labels[fitted.split.holdout]
    rules_hold = dataset.frame["rules_score"].to_numpy(dtype=np.float64)[fitted.split.holdout]

    on_step("logging the run to MLflow")
    mlflow.set_experiment(config.experiment)
    with mlflow.start_run(run_name=f"fraud-{dataset.data_version[:40]}") as run:
        mlflow.log_params(_params(config, dataset, fitted))
        metrics = {
            **ev.model.as_metrics("holdout"),
            **ev.rules.as_metrics("rules_holdout"),
            REVIEW_TAG: ev.model_thresholds.review_threshold,
            DECLINE_TAG: ev.model_thresholds.decline_threshold,
            "rules_review_threshold": ev.rules_thresholds.review_threshold,
            "rules_decline_threshold": ev.rules_thresholds.decline_threshold,
        }
        if ev.rules.auc_pr > 0:
            metrics["auc_pr_ratio_to_rules"] = ev.model.auc_pr / ev.rules.auc_pr
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
        mlflow.log_dict({"features": list(FEATURES)}, "features.json")
        mlflow.log_dict(
            {"model": asdict(ev.model_thresholds), "rules": asdict(ev.rules_thresholds)},
            "thresholds.json",
        )
        mlflow.set_tag("data_version", dataset.data_version)
        fig = _pr_curve_figure(y_hold, fitted.holdout_scores, rules_hold, ev)
        mlflow.log_figure(fig, "pr_curve.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
        info = log_model(fitted.model, dataset.matrix[:5])
        run_id = run.info.run_id

    on_step(f"registering {config.model_name}")
    version = register_version(
        mlflow_settings,
        info.model_uri,
        config.model_name,
        ev.model_thresholds,
        {
            "data_version": dataset.data_version,
            "holdout_auc_pr": f"{ev.model.auc_pr:.6f}",
            "run_id": run_id,
        },
    )

    if not promote:
        return TrainResult(
            run_id, config.model_name, version, info.model_uri, dataset.data_version, ev
        )
    on_step("re-scoring the champion on the same holdout")
    rows_hold = dataset.matrix[fitted.split.holdout]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        _, champion_value, note = champion_auc_pr(
            mlflow_settings, config.model_name, rows_hold, y_hold
        )
    promotion = registry.promote_if_better(
        mlflow_settings, config.model_name, version, METRIC, ev.model.auc_pr, champion_value
    )
    return TrainResult(
        run_id,
        config.model_name,
        version,
        info.model_uri,
        dataset.data_version,
        ev,
        promotion,
        champion_value,
        [note],
    )


def run(
    settings: Settings,
    config: TrainConfig,
    *,
    labels_path: Path | None = None,
    promote: bool = False,
    on_step: Step = _quiet,
    offline: str | None = None,
) -> TrainResult:
    """``paystream train fraud``: load decisions and labels from the replica (or, with
    ``offline``, the offline features of that history namespace), then train."""
    if offline is None:
        on_step("reading decisions and labels from the ledger replica")
        dataset = load_dataset(settings.mysql, settings.lakehouse, labels_path)
    else:
        from ml.fraud.offline_dataset import load_offline_dataset
        from paystream.contracts.history import HistoryPaths

        on_step(f"reading the offline features of history {offline}")
        dataset = load_offline_dataset(HistoryPaths.of(settings.lakehouse.root, offline).features)
    return train_fraud(dataset, config, settings.mlflow, promote=promote, on_step=on_step)
