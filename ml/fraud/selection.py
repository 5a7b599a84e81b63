"""The boosting model's hyperparameters, chosen the Fraud Detection Handbook's way:
prequential validation on the training period only.

Each validation block is the backtest fold shifted back in time by its delay and test window,
so the block's own test days are the last days of the fold's training period: every label the
choice uses was known at the fold's cut-off, and the fold's test days are never looked at. A
candidate's score is its Average Precision, averaged over the blocks; the defaults win ties.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.fraud.dataset import FraudDataset
from ml.fraud.evaluate import average_precision
from ml.fraud.model import build_model, empty_columns, fill_empty, fraud_scores
from ml.fraud.train import TrainConfig

# Shallow trees: a week of training holds a few hundred frauds.
_SHALLOW: dict[str, Any] = {
    "class_weight": None,
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_depth": 3,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
}
#: Changes to :class:`TrainConfig` tried beside the defaults (the first, empty, entry); the
#: last two blend the trees with the logistic regression (:func:`ml.fraud.model.build_model`).
GRID: tuple[dict[str, Any], ...] = (
    {},
    {"class_weight": None},
    {"class_weight": None, "max_leaf_nodes": 15, "min_samples_leaf": 100},
    {
        "class_weight": None,
        "learning_rate": 0.05,
        "max_iter": 400,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 200,
        "l2_regularization": 1.0,
    },
    {
        "class_weight": None,
        "learning_rate": 0.05,
        "max_iter": 300,
        "max_leaf_nodes": 7,
        "min_samples_leaf": 200,
    },
    _SHALLOW,
    {**_SHALLOW, "blend_logistic": True},
    {
        "class_weight": None,
        "learning_rate": 0.05,
        "max_iter": 500,
        "max_depth": 2,
        "min_samples_leaf": 50,
        "blend_logistic": True,
    },
)
#: Validation blocks per fold: one more than the last week alone, which a single odd week
#: would otherwise decide.
BLOCKS = 2


@dataclass(frozen=True)
class Selection:
    """The chosen configuration, what it changed, and every candidate's validation score."""

    config: TrainConfig
    changes: dict[str, Any]
    scores: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    blocks: int = 0


def validation_blocks(
    days: npt.NDArray[Any],
    train_start: date,
    train_end: date,
    delay_days: int,
    test_days: int,
    count: int,
) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """(train, test) masks of up to ``count`` blocks: the fold moved back by ``k`` times its
    delay and test window, so the first block's test days end where the fold's training
    does."""
    blocks = []
    first = min(days)
    for k in range(1, count + 1):
        shift = timedelta(days=k * (delay_days + test_days))
        start, end = train_start - shift, train_end - shift
        if start < first:
            break
        test_start = end + timedelta(days=delay_days)
        test_end = test_start + timedelta(days=test_days)
        train = (days >= start) & (days < end)
        test = (days >= test_start) & (days < test_end)
        blocks.append((train, test))
    return blocks


def select(
    dataset: FraudDataset,
    days: npt.NDArray[Any],
    train_start: date,
    train_end: date,
    delay_days: int,
    test_days: int,
    config: TrainConfig,
    count: int = BLOCKS,
) -> Selection:
    """The candidate of :data:`GRID` with the best mean validation Average Precision; the
    defaults when the data holds no validation block before the fold."""
    y, x = dataset.labels, dataset.matrix
    found = validation_blocks(days, train_start, train_end, delay_days, test_days, count)
    blocks = [
        (train, test) for train, test in found if len(set(y[train].tolist())) == 2 and y[test].any()
    ]
    if not blocks:
        return Selection(config, {}, [], 0)
    scores: list[tuple[dict[str, Any], float]] = []
    for changes in GRID:
        candidate = replace(config, **changes)
        values = []
        for train, test in blocks:
            empty = empty_columns(x[train])
            model = build_model(candidate).fit(fill_empty(x[train], empty), y[train])
            scores_test = fraud_scores(model, fill_empty(x[test], empty))
            values.append(average_precision(y[test], scores_test))
        scores.append((changes, float(np.mean(values))))
    best = max(range(len(scores)), key=lambda i: (scores[i][1], -i))
    changes = scores[best][0]
    return Selection(replace(config, **changes), changes, scores, len(blocks))
