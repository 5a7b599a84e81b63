"""The fraud model in MLflow: logged in the safe skops format, registered with the tags the
risk agent reads, and the champion scored on a challenger's holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ml.fraud.evaluate import Thresholds, average_precision
from ml.fraud.model import fraud_scores
from paystream.contracts.fraud_features import FEATURES
from paystream.settings import MLflowSettings
from paystream.stores import mlflow as registry
from paystream.stores.fraud_model import DECLINE_TAG, FEATURES_TAG, REVIEW_TAG, check_safe_format


def champion_auc_pr(
    mlflow_settings: MLflowSettings,
    name: str,
    rows: npt.NDArray[np.float64],
    y: npt.NDArray[np.int_],
) -> tuple[str | None, float | None, str]:
    """(champion version, its AUC-PR on ``rows``/``y``, a note); the value is None without one.

    A champion trained on another feature list cannot score these rows; it gets no value,
    so the challenger (which matches what the stream computes today) replaces it.
    """
    import mlflow.sklearn
    from mlflow import MlflowClient

    version = registry.alias_version(mlflow_settings, name, registry.CHAMPION)
    if version is None:
        return None, None, "no champion yet"
    tags = MlflowClient(mlflow_settings.tracking_uri).get_model_version(name, version).tags
    if tags.get(FEATURES_TAG, ",".join(FEATURES)) != ",".join(FEATURES):
        return version, None, f"champion v{version} was trained on another feature list"
    uri = f"models:/{name}/{version}"
    # The champion is compared, so it is loaded: the same format check as the risk agent's.
    check_safe_format(mlflow.models.get_model_info(uri).flavors.get("sklearn", {}), uri)
    champion = mlflow.sklearn.load_model(uri)
    value = average_precision(y, fraud_scores(champion, rows))
    return version, value, f"champion v{version} AUC-PR {value:.4f} on this holdout"


def _sklearn_types(model: Any) -> list[str]:
    """scikit-learn's own types inside ``model`` that skops does not trust by default.

    skops (MLflow's safe format, no pickle) refuses to load unknown types; the gradient
    boosting's tree predictors are such a type. Only ``sklearn.`` types are ever trusted.
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    return [t for t in untrusted if t.startswith("sklearn.")]


def log_model(model: Any, example: npt.NDArray[np.float64]) -> Any:
    """Log ``model`` to the active MLflow run in the safe skops format; returns its info."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict_proba(example)),
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=_sklearn_types(model),
    )


def register_version(
    mlflow_settings: MLflowSettings,
    model_uri: str,
    model_name: str,
    thresholds: Thresholds,
    extra_tags: dict[str, str],
) -> str:
    """Register a logged model with the tags the risk agent reads; returns the version."""
    from mlflow import MlflowClient

    client = registry.client(mlflow_settings)
    assert isinstance(client, MlflowClient)
    version = registry.register(mlflow_settings, model_uri, model_name)
    tags = {
        REVIEW_TAG: repr(thresholds.review_threshold),
        DECLINE_TAG: repr(thresholds.decline_threshold),
        FEATURES_TAG: ",".join(FEATURES),
        **extra_tags,
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    return version
