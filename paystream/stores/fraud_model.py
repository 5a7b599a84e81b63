"""Loading a registered fraud model with its operating thresholds (for the risk agent).

``paystream train fraud`` registers each version with tags ``review_threshold``,
``decline_threshold`` and ``features``; this module reads them back beside the model, so a
scorer never pairs a model with another version's thresholds. Cheap to import: MLflow is
imported only when a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paystream.contracts.fraud_features import FEATURES
from paystream.errors import ConfigurationError
from paystream.settings import MLflowSettings
from paystream.stores import mlflow as registry

MODEL_NAME = "paystream-fraud"
REVIEW_TAG = "review_threshold"
DECLINE_TAG = "decline_threshold"
FEATURES_TAG = "features"


@dataclass(frozen=True)
class FraudModel:
    """One registered version, ready to score rows from
    :func:`paystream.contracts.fraud_features.to_matrix`.

    Decision rule: decline when ``score >= decline_threshold``, review when
    ``score >= review_threshold``, approve otherwise.
    """

    name: str
    version: str
    model: Any
    review_threshold: float
    decline_threshold: float

    def score(self, rows: list[list[float]]) -> list[float]:
        """Fraud scores in [0, 1] (``predict_proba[:, 1]``) of feature rows."""
        return [float(p) for p in self.model.predict_proba(rows)[:, 1]]

    def decide(self, score: float) -> str:
        """``approve``, ``review`` or ``decline`` for one score."""
        if score >= self.decline_threshold:
            return "decline"
        return "review" if score >= self.review_threshold else "approve"


def load_version(settings: MLflowSettings, name: str, version: str) -> FraudModel:
    """Load ``models:/<name>/<version>`` and its threshold tags.

    Raises:
        ConfigurationError: the version lacks the threshold tags, or was trained on another
            feature list than :data:`FEATURES` (it could not score today's vectors).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    tags = MlflowClient(settings.tracking_uri).get_model_version(name, version).tags
    if tags.get(FEATURES_TAG) != ",".join(FEATURES):
        raise ConfigurationError(
            f"{name} v{version} was trained on other features than this code computes; "
            "retrain with `paystream train fraud --promote`"
        )
    try:
        review, decline = float(tags[REVIEW_TAG]), float(tags[DECLINE_TAG])
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(
            f"{name} v{version} has no valid {REVIEW_TAG}/{DECLINE_TAG} tags; "
            "register models with `paystream train fraud`"
        ) from exc
    uri = f"models:/{name}/{version}"
    check_safe_format(mlflow.models.get_model_info(uri).flavors.get("sklearn", {}), uri)
    model = mlflow.sklearn.load_model(uri)
    return FraudModel(name, version, model, review, decline)


#: Module prefixes whose types a loaded model may contain (skops refuses all others).
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def check_safe_format(flavor: dict[str, Any], uri: str) -> None:
    """Refuse a model whose loading could run code.

    MLflow's default sklearn format is a pickle, and unpickling runs whatever the file says:
    anyone able to register a version in an unauthenticated MLflow could run code in every
    risk agent, next to every credential. Only skops files load here, and only when the types
    they ask skops to trust are scikit-learn's, NumPy's or SciPy's (the list is written by
    whoever logged the model, so it is checked rather than believed).

    Raises:
        ConfigurationError: the version is not in the skops format, or trusts other types.
    """
    form = flavor.get("serialization_format")
    if form != "skops":
        raise ConfigurationError(
            f"{uri} is stored as {form or 'an unknown format'!r}, which can run code when "
            "loaded; only skops models load (register with `paystream train fraud`)"
        )
    foreign = [
        t for t in flavor.get("skops_trusted_types") or [] if not t.startswith(TRUSTED_PREFIXES)
    ]
    if foreign:
        raise ConfigurationError(
            f"{uri} asks to trust types outside scikit-learn, NumPy and SciPy: "
            f"{', '.join(foreign[:5])}; refusing to load it"
        )


def load_champion(
    settings: MLflowSettings, name: str = MODEL_NAME, alias: str = registry.CHAMPION
) -> FraudModel | None:
    """The version ``alias`` points at, or None when there is no such alias yet.

    Poll :func:`paystream.stores.mlflow.alias_version` and call this again when the version moves.
    """
    version = registry.alias_version(settings, name, alias)
    return None if version is None else load_version(settings, name, version)
