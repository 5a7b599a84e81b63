"""The fraud model's estimator: its construction from a :class:`TrainConfig`, its scores, and
the constant fill for feature columns a training set lacks entirely.

The estimator is a gradient-boosting classifier, optionally blended (soft vote: the mean of
both probabilities) with the plain logistic regression: on a week of training data the
linear model ranks the merchant fraud rates steadily where the trees are noisy, and the
trees catch the interactions the linear model misses. Prequential validation
(:mod:`ml.fraud.selection`) decides whether the blend is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier

if TYPE_CHECKING:
    from ml.fraud.train import TrainConfig


def build_model(config: TrainConfig) -> Any:
    """The unfitted classifier for ``config`` (a scikit-learn estimator with
    ``predict_proba``)."""
    boosting = HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        class_weight=config.class_weight,
        random_state=config.seed,
    )
    if not config.blend_logistic:
        return boosting
    from sklearn.ensemble import VotingClassifier

    return VotingClassifier(
        [("boosting", boosting), ("logistic", logistic_regression(config.seed))], voting="soft"
    )


def logistic_regression(seed: int = 0) -> Any:
    """The plain logistic regression: median-imputed, standardized features."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(max_iter=1000, random_state=seed),
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
