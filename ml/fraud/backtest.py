"""Backtesting fraud detection with the Fraud Detection Handbook's protocol.

Le Borgne et al. (2022, ch. 5) judge a fraud detector the way it would have lived: a model
is trained on a window of past days, then a *delay* follows during which labels are not yet
known (chargebacks take days to arrive), then it is tested on the next days. Prequential
validation repeats that block further back in time, one test window per fold.

On every test day, cards already known to be compromised (a fraud on them before the day
minus the delay) leave the ranking, and so does a fraudulent card found in an earlier test
day's top k: investigators are not asked about a card twice.

Three detectors are judged on the same rows: the rules alone (the ``rules_score`` the risk
agent logged), the model (the same gradient boosting as ``paystream train fraud``), and a
plain logistic regression on the same features. Metrics are AUC ROC, Average Precision and
Card Precision@k (mean over test days).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from ml.fraud.dataset import DatasetError, FraudDataset
from ml.fraud.evaluate import average_precision, card_precision_per_day
from ml.fraud.model import (
    build_model,
    empty_columns,
    fill_empty,
    fraud_scores,
    logistic_regression,
)
from ml.fraud.selection import select
from ml.fraud.train import TrainConfig
from paystream.contracts.fraud_features import FEATURES

DETECTORS = ("rules", "model", "logistic")
METRICS = ("auc_roc", "average_precision", "card_precision_at_k")


@dataclass(frozen=True)
class Protocol:
    """Window lengths in days; the last fold's test window ends with ``test_end``
    (exclusive; default: the day after the last decision)."""

    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7
    folds: int = 1
    k: int = 100
    test_end: date | None = None

    def __post_init__(self) -> None:
        if min(self.train_days, self.test_days, self.folds, self.k) < 1 or self.delay_days < 0:
            raise ValueError("train, test, folds and k must be at least 1; delay at least 0")


@dataclass(frozen=True)
class Fold:
    """One block of the protocol: train [train_start, train_end), test [test_start, test_end)."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


@dataclass(frozen=True)
class FoldResult:
    """Metrics of each detector on one fold, and the rows it used."""

    fold: Fold
    metrics: dict[str, dict[str, float]]
    train_rows: int
    train_frauds: int
    test_rows: int
    test_frauds: int
    compromised_cards_per_day: float
    empty_features: list[str]  # missing in every training row, filled with 0
    # Card Precision@k of a perfect detector on the same days: the metric's ceiling, below 1
    # whenever fewer than k cards not yet known compromised pay on a test day.
    card_precision_ceiling: float = math.nan
    # The model's hyperparameters chosen by prequential validation on the training period
    # (changes to the defaults; empty: the defaults won, or no block fitted before the fold).
    chosen: dict[str, Any] = field(default_factory=dict)
    selection_blocks: int = 0


@dataclass(frozen=True)
class Backtest:
    """All folds, their means, and the latest fold's fitted model (for ``--promote``)."""

    protocol: Protocol
    folds: list[FoldResult]
    model: Any = field(repr=False)

    def mean(self, detector: str, metric: str) -> float:
        """The metric averaged over folds (NaN folds ignored; NaN when all are)."""
        values = [f.metrics[detector][metric] for f in self.folds]
        finite = [v for v in values if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan


def _days(dataset: FraudDataset) -> npt.NDArray[Any]:
    return np.asarray([t.date() for t in dataset.times], dtype=object)


def plan_folds(days: npt.NDArray[Any], protocol: Protocol) -> list[Fold]:
    """The folds, newest first, each shifted one test window back.

    Raises:
        DatasetError: the data does not reach back far enough for one fold.
    """
    first, last = min(days), max(days)
    end = protocol.test_end or last + timedelta(days=1)
    folds = []
    for i in range(protocol.folds):
        test_end = end - timedelta(days=i * protocol.test_days)
        test_start = test_end - timedelta(days=protocol.test_days)
        train_end = test_start - timedelta(days=protocol.delay_days)
        train_start = train_end - timedelta(days=protocol.train_days)
        if train_start < first:
            break
        folds.append(Fold(i, train_start, train_end, test_start, test_end))
    if not folds:
        span = protocol.train_days + protocol.delay_days + protocol.test_days
        raise DatasetError(
            f"the decisions cover {first} to {last} ({(last - first).days + 1} days); one "
            f"fold needs {span} (train {protocol.train_days} + delay {protocol.delay_days} + "
            f"test {protocol.test_days}): import a longer history or shorten the windows"
        )
    return folds


def logistic_baseline(seed: int = 0) -> Any:
    """The plain logistic regression: median-imputed, standardized features."""
    return logistic_regression(seed)


def _known_compromised(
    days: npt.NDArray[Any], cards: npt.NDArray[Any], y: npt.NDArray[np.int_], delay: int
) -> Callable[[date], set[str]]:
    # A fraud without a card (wallet, FPS) compromises no card: it cannot be known as one.
    fraud_days = sorted(
        (d, c)
        for d, c, label in zip(days, cards, y, strict=True)
        if label and isinstance(c, str) and c
    )

    def known(day: date) -> set[str]:
        cut = day - timedelta(days=delay)
        return {c for d, c in fraud_days if d < cut}

    return known


def _card_precision(
    y: npt.NDArray[np.int_],
    scores: npt.NDArray[np.float64],
    days: npt.NDArray[Any],
    cards: npt.NDArray[Any],
    known: Callable[[date], set[str]],
    k: int,
) -> float:
    per_day = card_precision_per_day(
        list(days), list(cards), y, scores, k, known=known, drop_detected=True
    )
    return float(np.mean(list(per_day.values()))) if per_day else math.nan


def _metrics(
    y: npt.NDArray[np.int_],
    scores: npt.NDArray[np.float64],
    days: npt.NDArray[Any],
    cards: npt.NDArray[Any],
    known: Callable[[date], set[str]],
    k: int,
) -> dict[str, float]:
    auc = float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else math.nan
    return {
        "auc_roc": auc,
        "average_precision": average_precision(y, scores) if y.any() else math.nan,
        "card_precision_at_k": _card_precision(y, scores, days, cards, known, k),
    }


def run_fold(
    dataset: FraudDataset, fold: Fold, protocol: Protocol, config: TrainConfig
) -> tuple[FoldResult, Any]:
    """Fit the model and the baseline on the fold's training days; judge all three.

    Raises:
        DatasetError: the training days lack fraud or legitimate payments.
    """
    days, cards, y = _days(dataset), dataset.frame["card"].to_numpy(object), dataset.labels
    train = (days >= fold.train_start) & (days < fold.train_end)
    test = (days >= fold.test_start) & (days < fold.test_end)
    if len(set(y[train].tolist())) < 2:
        raise DatasetError(
            f"fold {fold.index}: the training days {fold.train_start}..{fold.train_end} need "
            "both fraud and legitimate payments"
        )
    empty = empty_columns(dataset.matrix[train])
    x_train = fill_empty(dataset.matrix[train], empty)
    x_test = fill_empty(dataset.matrix[test], empty)
    chosen = select(
        dataset,
        days,
        fold.train_start,
        fold.train_end,
        protocol.delay_days,
        protocol.test_days,
        config,
    )
    model = build_model(chosen.config).fit(x_train, y[train])
    baseline = logistic_baseline(config.seed).fit(x_train, y[train])
    scores = {
        "rules": dataset.frame["rules_score"].to_numpy(np.float64)[test],
        "model": fraud_scores(model, x_test),
        "logistic": np.asarray(baseline.predict_proba(x_test)[:, 1], dtype=np.float64),
    }
    known = _known_compromised(days, cards, y, protocol.delay_days)
    metrics = {
        name: _metrics(y[test], s, days[test], cards[test], known, protocol.k)
        for name, s in scores.items()
    }
    test_days = sorted(set(days[test]))
    compromised = [
        len(
            {
                c
                for c, d, label in zip(cards[test], days[test], y[test], strict=True)
                if label and d == day
            }
        )
        for day in test_days
    ]
    result = FoldResult(
        fold=fold,
        metrics=metrics,
        train_rows=int(train.sum()),
        train_frauds=int(y[train].sum()),
        test_rows=int(test.sum()),
        test_frauds=int(y[test].sum()),
        compromised_cards_per_day=float(np.mean(compromised)) if compromised else 0.0,
        empty_features=[FEATURES[j] for j in empty],
        card_precision_ceiling=_card_precision(
            y[test], y[test].astype(np.float64), days[test], cards[test], known, protocol.k
        ),
        chosen=chosen.changes,
        selection_blocks=chosen.blocks,
    )
    return result, model


def backtest(
    dataset: FraudDataset,
    protocol: Protocol,
    config: TrainConfig,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> Backtest:
    """Run every fold of ``protocol`` on ``dataset``, newest first."""
    from threadpoolctl import threadpool_limits

    results: list[FoldResult] = []
    latest: Any = None
    with threadpool_limits(limits=config.threads):
        for fold in plan_folds(_days(dataset), protocol):
            result, model = run_fold(dataset, fold, protocol, config)
            results.append(result)
            latest = model if latest is None else latest
            if on_fold is not None:
                on_fold(result)
    return Backtest(protocol, results, latest)
