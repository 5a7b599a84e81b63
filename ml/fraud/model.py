"""The fraud model's estimator: its construction from a :class:`TrainConfig`, its scores, and
the constant fill for feature columns a training set lacks entirely."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier

if TYPE_CHECKING:
    from ml.fraud.train import TrainConfig


def build_model(config: TrainConfig) -> HistGradientBoostingClassifier:
    """The unfitted classifier for ``config``."""
    return HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        class_weight=config.class_weight,
        random_state=config.seed,
    )


def empty_columns(rows: npt.NDArray[np.float64]) -> list[int]:
    """Feature columns missing in every row (no device in the data, no graph)."""
    return [j for j in range(rows.shape[1]) if np.isnan(rows[:, j]).all()]


def fill_empty(rows: npt.NDArray[np.float64], columns: list[int]) -> npt.NDArray[np.float64]:
    """``rows`` with ``columns`` set to 0.

    The pinned scikit-learn's gradient boosting raises ``ValueError: window shape cannot be
    larger than input array shape`` on a column that is missing in every training row. A
    constant column instead is never split on, and the model keeps the full feature list,
    so it can still be registered for the risk agent, which computes every feature.
    """
    filled = rows.copy()
    filled[:, columns] = 0.0
    return filled


def fraud_scores(model: Any, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The fraud score of each row: ``predict_proba[:, 1]``."""
    return np.asarray(model.predict_proba(rows)[:, 1], dtype=np.float64)
