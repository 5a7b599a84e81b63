"""The fraud model in a running worker: load the champion, follow the alias, never go blind.

A loaded MLflow model does not follow a moved alias, so the worker polls the registry
(:meth:`ModelHolder.refresh`, on a timer) and swaps the model in when ``champion`` points at
a new version. Swapping is one reference assignment, so a batch scores entirely with the old
or entirely with the new model and no decision is lost. A version that fails to load leaves
the previous model in use and raises ``paystream_risk_model_load_failed`` (an alert).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from prometheus_client import Counter, Gauge

from paystream.settings import MLflowSettings, RiskSettings
from paystream.stores.fraud_model import FraudModel, load_version
from paystream.stores.mlflow import CHAMPION, alias_version

log = logging.getLogger(__name__)

MODEL_VERSION = Gauge("paystream_risk_model_version", "Fraud model version in use (0: rules only)")
LOAD_FAILED = Gauge(
    "paystream_risk_model_load_failed",
    "1 while the newest champion could not be loaded and an older model (or rules) is in use",
)
LOAD_FAILURES = Counter("paystream_risk_model_load_failures_total", "Failed model loads")
RELOADS = Counter("paystream_risk_model_reloads_total", "Model versions swapped in")


Loader = Callable[[str, str], FraudModel]


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
        self.current: FraudModel | None = None
        MODEL_VERSION.set(0)

    @classmethod
    def from_settings(cls, mlflow_settings: MLflowSettings, risk: RiskSettings) -> ModelHolder:
        """A holder that follows ``champion`` of ``risk.model_name`` on the tracking server."""
        return cls(
            risk.model_name,
            lambda name, version: load_version(mlflow_settings, name, version),
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
