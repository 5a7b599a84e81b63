"""MLflow registry helpers shared by every model: challenger/champion by alias.

A newly registered version gets the ``challenger`` alias. It becomes ``champion`` only when
:func:`promote_if_better` sees it beat the current champion on the same metric, measured on
the same data; otherwise the champion stays where it is. Stream workers and batch scorers
load ``models:/<name>@champion`` and poll :func:`alias_version` to follow a moved alias.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from paystream.errors import ServiceUnavailableError
from paystream.settings import MLflowSettings

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Promotion:
    """The outcome of a promotion attempt."""

    promoted: bool
    version: str
    champion_version: str | None
    metric: str
    challenger_value: float
    champion_value: float | None
    reason: str


def client(settings: MLflowSettings) -> object:
    """An ``MlflowClient`` on the tracking server, checked to answer.

    Raises:
        ServiceUnavailableError: the tracking server does not answer, naming the command
            that starts it.
    """
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow_client = MlflowClient(tracking_uri=settings.tracking_uri)
    try:
        mlflow_client.search_experiments(max_results=1)
    except Exception as exc:
        raise ServiceUnavailableError("MLflow", settings.tracking_uri, str(exc)) from exc
    return mlflow_client


def alias_version(settings: MLflowSettings, name: str, alias: str = CHAMPION) -> str | None:
    """The version an alias points at, or None when the model or the alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow_client = MlflowClient(tracking_uri=settings.tracking_uri)
    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


def register(settings: MLflowSettings, model_uri: str, name: str) -> str:
    """Register ``model_uri`` (``runs:/<id>/<path>``) under ``name``; tag it ``challenger``."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    version = mlflow.register_model(model_uri, name)
    MlflowClient(tracking_uri=settings.tracking_uri).set_registered_model_alias(
        name, CHALLENGER, version.version
    )
    return str(version.version)


def promote_if_better(
    settings: MLflowSettings,
    name: str,
    version: str,
    metric: str,
    challenger_value: float,
    champion_value: float | None,
    *,
    min_gain: float = 0.0,
) -> Promotion:
    """Move ``champion`` to ``version`` only if it beats the champion's value on ``metric``.

    ``champion_value`` must be measured on the same data as ``challenger_value``; pass None
    when there is no champion yet (the first model is promoted).
    """
    from mlflow import MlflowClient

    current = alias_version(settings, name, CHAMPION)
    mlflow_client = MlflowClient(tracking_uri=settings.tracking_uri)
    beaten = champion_value is not None and challenger_value <= champion_value + min_gain
    if current is not None and beaten:
        reason = (
            f"{metric} {challenger_value:.4f} does not beat champion v{current} "
            f"({champion_value:.4f})"
        )
        log.info("not promoting %s v%s: %s", name, version, reason)
        return Promotion(False, version, current, metric, challenger_value, champion_value, reason)
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    reason = (
        f"first champion ({metric} {challenger_value:.4f})"
        if current is None or champion_value is None
        else f"{metric} {challenger_value:.4f} beats champion v{current} ({champion_value:.4f})"
    )
    log.info("promoted %s v%s: %s", name, version, reason)
    return Promotion(True, version, current, metric, challenger_value, champion_value, reason)
