"""MLflow for the recommender: the run, the pyfunc model, and the champion's score.

The logged model is a pyfunc around :class:`ml.recommender.als.FactorModel`: the factor
matrices and id maps are artifacts, and ``predict`` takes a frame with ``customer_id`` (and
optionally ``k``) and returns ranked ``customer_id, item_id, score, rank`` rows. Loading it
needs numpy and this repository's ``ml`` package, not Spark.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.recommender.als import ALSParams, FactorModel
from ml.recommender.evaluate import PRIMARY, Evaluation, metrics_chart
from paystream.settings import MLflowSettings

EXPERIMENT = "paystream-recommender"
MODEL_NAME = "paystream-recommender"
DATA_VERSION_TAG = "data_version"
SPLIT_TAG = "split"


class FactorPyfunc:
    """``mlflow.pyfunc.PythonModel`` duck type (MLflow is imported lazily)."""

    model: FactorModel | None = None

    def load_context(self, context: Any) -> None:
        """Load the factors from the model's ``factors`` artifact folder."""
        self.model = FactorModel.load(Path(context.artifacts["factors"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """Top ``k`` (default 10) unseen items per ``customer_id`` (at ``merchant_id``, for a
        model learnt per merchant), with the merchant's own item ids."""
        from ml.recommender.data import scoped, unscoped

        if self.model is None:
            self.load_context(context)
        assert self.model is not None
        k = int(model_input["k"].iloc[0]) if "k" in model_input and len(model_input) else 10
        customers = [str(u) for u in model_input["customer_id"]]
        if "merchant_id" in model_input:
            merchants = [str(m) for m in model_input["merchant_id"]]
            users = [scoped(m, c) for m, c in zip(merchants, customers, strict=True)]
        else:
            users = customers
        found = self.model.recommend_many(users, k)
        rows = [
            (customer, unscoped(item.item_id)[1], item.score, rank)
            for customer, user in zip(customers, users, strict=True)
            for rank, item in enumerate(found[user], start=1)
        ]
        return pd.DataFrame(rows, columns=["customer_id", "item_id", "score", "rank"])


def _pyfunc_class() -> type:
    import mlflow.pyfunc

    # Subclass at call time so that importing this module does not import MLflow.
    return type("ALSFactorModel", (FactorPyfunc, mlflow.pyfunc.PythonModel), {})


@dataclass(frozen=True)
class LoggedRun:
    """What a training run logged."""

    run_id: str
    model_uri: str


def log_run(
    settings: MLflowSettings,
    *,
    experiment: str,
    params: dict[str, Any],
    evaluation: Evaluation,
    data_version: str,
    split_tag: str,
    model: FactorModel,
    extra_metrics: dict[str, float] | None = None,
) -> LoggedRun:
    """One MLflow run: params, metrics of every model, the chart, and the pyfunc model."""
    import mlflow
    import numpy as np

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mlflow.set_tags({DATA_VERSION_TAG: data_version, SPLIT_TAG: split_tag})
        mlflow.log_params({**params, DATA_VERSION_TAG: data_version})
        metrics = evaluation.flat()
        metrics[PRIMARY] = evaluation.metrics["als"][PRIMARY]
        ratio = evaluation.over_baseline("als")
        if ratio is not None:
            metrics[f"{PRIMARY}_over_popularity"] = ratio
        metrics.update(extra_metrics or {})
        mlflow.log_metrics(metrics)
        (folder / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2))
        mlflow.log_artifact(str(folder / "metrics.json"))
        mlflow.log_artifact(str(metrics_chart(evaluation, folder / "metrics.png")))
        factors = model.save(folder / "factors")
        mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={"factors": str(factors)},
            pip_requirements=[f"numpy=={np.__version__}", f"pandas=={pd.__version__}", "scipy"],
        )
        return LoggedRun(run.info.run_id, f"runs:/{run.info.run_id}/model")


@dataclass(frozen=True)
class ChampionRun:
    """The current champion's logged run, as far as promotion needs it."""

    version: str
    data_version: str | None
    split: str | None
    ndcg: float | None
    als_params: ALSParams


def champion_run(settings: MLflowSettings, name: str) -> ChampionRun | None:
    """The champion's run, or None when there is no champion."""
    from mlflow import MlflowClient

    from paystream.stores.mlflow import CHAMPION, alias_version

    version = alias_version(settings, name, CHAMPION)
    if version is None:
        return None
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    model_version = client.get_model_version(name, version)
    if not model_version.run_id:
        return ChampionRun(version, None, None, None, ALSParams())
    run = client.get_run(model_version.run_id)
    return ChampionRun(
        version=version,
        data_version=run.data.tags.get(DATA_VERSION_TAG),
        split=run.data.tags.get(SPLIT_TAG),
        ndcg=run.data.metrics.get(PRIMARY),
        als_params=ALSParams.from_params(run.data.params),
    )


def load_served_model(settings: MLflowSettings, name: str, alias: str) -> Any:
    """``models:/<name>@<alias>`` as a pyfunc model."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
