"""The fraud model in a running worker: load the champion, follow the alias, never go blind.

A loaded MLflow model does not follow a moved alias, so the worker polls the registry
(:meth:`ModelHolder.refresh`, on a timer) and swaps the model in when ``champion`` points at
a new version. Swapping is one reference assignment, so a batch scores entirely with the old
or entirely with the new model and no decision is lost. A version that fails to load leaves
the previous model in use and raises ``paystream_risk_model_load_failed`` (an alert).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from ml.registry import CHAMPION, alias_version
from paystream.settings import MLflowSettings, RiskSettings

log = logging.getLogger(__name__)

MODEL_VERSION = Gauge("paystream_risk_model_version", "Fraud model version in use (0: rules only)")
LOAD_FAILED = Gauge(
    "paystream_risk_model_load_failed",
    "1 while the newest champion could not be loaded and an older model (or rules) is in use",
)
LOAD_FAILURES = Counter("paystream_risk_model_load_failures_total", "Failed model loads")
RELOADS = Counter("paystream_risk_model_reloads_total", "Model versions swapped in")


@dataclass(frozen=True)
class LoadedModel:
    """One registered model version, ready to score, with its operating thresholds."""

    name: str
    version: str
    estimator: Any
    review_threshold: float
    decline_threshold: float

    def score(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Fraud probability per row (rows in ``FEATURES`` order, NaN for missing)."""
        if not rows:
            return []
        import numpy as np

        probabilities = self.estimator.predict_proba(np.asarray(rows, dtype=float))[:, 1]
        return [min(1.0, max(0.0, float(p))) if math.isfinite(p) else 0.0 for p in probabilities]


Loader = Callable[[str, str], LoadedModel]


def mlflow_loader(mlflow_settings: MLflowSettings, risk: RiskSettings) -> Loader:
    """Load ``models:/<name>/<version>`` with its threshold tags from the registry."""

    def load(name: str, version: str) -> LoadedModel:
        import mlflow.sklearn
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(mlflow_settings.tracking_uri)
        estimator = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        client = MlflowClient(tracking_uri=mlflow_settings.tracking_uri)
        tags = client.get_model_version(name, version).tags or {}
        return LoadedModel(
            name=name,
            version=str(version),
            estimator=estimator,
            review_threshold=float(tags.get("review_threshold", risk.review_threshold)),
            decline_threshold=float(tags.get("decline_threshold", risk.decline_threshold)),
        )

    return load


class ModelHolder:
    """The model a worker scores with; :attr:`current` is None while only the rules decide."""

    def __init__(
        self,
        name: str,
        loader: Loader,
        champion: Callable[[], str | None],
    ) -> None:
        self.name = name
        self._loader = loader
        self._champion = champion
        self._lock = threading.Lock()
        self._failed_version: str | None = None
        self.current: LoadedModel | None = None
        MODEL_VERSION.set(0)

    @classmethod
    def from_settings(cls, mlflow_settings: MLflowSettings, risk: RiskSettings) -> ModelHolder:
        """A holder that follows ``champion`` of ``risk.model_name`` on the tracking server."""
        return cls(
            risk.model_name,
            mlflow_loader(mlflow_settings, risk),
            lambda: alias_version(mlflow_settings, risk.model_name, CHAMPION),
        )

    def refresh(self) -> bool:
        """Load the champion if the alias moved; True when a new model was swapped in.

        Never raises: an unreachable registry or a broken version keeps the current model.
        """
        with self._lock:
            try:
                wanted = self._champion()
            except Exception as exc:  # the registry being down must not stop scoring
                log.warning("fraud model registry unreachable, keeping current model: %s", exc)
                return False
            current = self.current.version if self.current else None
            if wanted is None or wanted == current or wanted == self._failed_version:
                return False
            try:
                loaded = self._loader(self.name, wanted)
            except Exception:
                LOAD_FAILURES.inc()
                LOAD_FAILED.set(1)
                self._failed_version = wanted
                log.error(
                    "could not load %s v%s; still scoring with %s",
                    self.name,
                    wanted,
                    f"v{current}" if current else "rules only",
                    exc_info=True,
                )
                return False
            self.current = loaded
            self._failed_version = None
            LOAD_FAILED.set(0)
            RELOADS.inc()
            MODEL_VERSION.set(float(wanted) if wanted.isdigit() else 0)
            log.info("fraud model %s v%s in use", self.name, wanted)
            return True
