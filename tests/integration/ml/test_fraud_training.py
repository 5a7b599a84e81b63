"""Fraud training against the real ledger (MySQL primary + replica) and MLflow registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient

from harness.worlds import create_ledger_database, drop_ledger_database
from ml.fraud.dataset import load_dataset
from ml.fraud.split import temporal_split
from ml.fraud.synthetic import make_ledger, write_ledger
from ml.fraud.train import TrainConfig, train_fraud
from paystream.contracts.fraud_features import FEATURES, to_matrix
from paystream.stores import mlflow as registry
from paystream.stores.fraud_model import load_champion
from paystream.stores.mysql import Database

PAYSTREAM = str(Path(sys.executable).parent / "paystream")
HOLDOUT_DAYS = "3"


def _env(mysql) -> dict[str, str]:
    return {
        **os.environ,
        "PAYSTREAM_MYSQL__PRIMARY_URL": mysql.primary_url.get_secret_value(),
        "PAYSTREAM_MYSQL__REPLICA_URL": mysql.replica_url.get_secret_value(),
        # No gold table here: labels must come from the ledger's chargebacks.
        "PAYSTREAM_LAKEHOUSE__ROOT": "/nonexistent-lakehouse",
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def world(stack, settings):
    """A ledger with 10 days of synthetic decisions, a private model name and experiment."""
    tag = uuid.uuid4().hex[:8]
    db_name = f"paystream_fraud_{tag}"
    mysql = create_ledger_database(settings.mysql, db_name)
    db = Database(mysql)
    ledger = make_ledger(seed=11, start=datetime(2026, 1, 5), days=10, payments_per_day=150)
    write_ledger(db, ledger)
    db.dispose()
    names = {"model_name": f"test-fraud-{tag}", "experiment": f"test-fraud-{tag}"}
    try:
        yield settings.model_copy(update={"mysql": mysql}), names, ledger
    finally:
        drop_ledger_database(settings.mysql, db_name)
        client = MlflowClient(settings.mlflow.tracking_uri)
        if client.search_registered_models(f"name = '{names['model_name']}'"):
            client.delete_registered_model(names["model_name"])
        experiment = client.get_experiment_by_name(names["experiment"])
        if experiment is not None:
            client.delete_experiment(experiment.experiment_id)


@pytest.fixture(scope="module")
def first_run(world):
    """`paystream train fraud --promote` on the ledger: the first model."""
    isolated, names, _ = world
    argv = [
        PAYSTREAM,
        "train",
        "fraud",
        "--promote",
        "--holdout-days",
        HOLDOUT_DAYS,
        "--model-name",
        names["model_name"],
        "--experiment",
        names["experiment"],
        "--threads",
        "1",
    ]
    done = subprocess.run(
        argv, env=_env(isolated.mysql), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_training_registers_a_challenger_with_its_thresholds_and_promotes_the_first(
    world, first_run
):
    isolated, names, _ = world
    name = names["model_name"]
    assert "promoted to champion" in first_run and "AUC-PR" in first_run
    assert registry.alias_version(isolated.mlflow, name, registry.CHALLENGER) == "1"
    assert registry.alias_version(isolated.mlflow, name, registry.CHAMPION) == "1"
    tags = MlflowClient(isolated.mlflow.tracking_uri).get_model_version(name, "1").tags
    review, decline = float(tags["review_threshold"]), float(tags["decline_threshold"])
    assert 0.0 <= review <= decline <= 1.0
    assert tags["data_version"].startswith("ledger-n1500-")


def test_the_run_logs_metrics_beside_the_rules_baseline_and_the_pr_curve(world, first_run):
    isolated, names, _ = world
    client = MlflowClient(isolated.mlflow.tracking_uri)
    version = client.get_model_version(names["model_name"], "1")
    run = client.get_run(version.tags["run_id"])
    metrics = run.data.metrics
    assert metrics["holdout_auc_pr"] > metrics["rules_holdout_auc_pr"]
    assert {"holdout_card_precision_at_k", "rules_holdout_card_precision_at_k"} <= set(metrics)
    assert run.data.params["label_source"] == "ledger"
    assert run.data.params["features"].startswith("amount_major,")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"pr_curve.png", "features.json", "thresholds.json"} <= artifacts


def test_the_registered_model_loads_with_mlflow_sklearn_and_scores_logged_vectors(world, first_run):
    isolated, names, ledger = world
    mlflow.set_tracking_uri(isolated.mlflow.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{names['model_name']}/1")
    fraud = {r["payment_id"] for r in ledger.refunds}
    rows = to_matrix([json.loads(d["features"]) for d in ledger.decisions])
    scores = model.predict_proba(rows)[:, 1]
    is_fraud = np.array([d["payment_id"] in fraud for d in ledger.decisions])
    assert scores.shape == (1500,)
    assert scores[is_fraud].mean() > scores[~is_fraud].mean() + 0.3


def test_the_champion_loads_with_the_thresholds_it_was_registered_with(world, first_run):
    isolated, names, ledger = world
    champion = load_champion(isolated.mlflow, names["model_name"])
    assert champion is not None and champion.version == "1"
    tags = (
        MlflowClient(isolated.mlflow.tracking_uri).get_model_version(names["model_name"], "1").tags
    )
    assert champion.decline_threshold == float(tags["decline_threshold"])
    scores = champion.score(to_matrix([json.loads(d["features"]) for d in ledger.decisions[:20]]))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert champion.decide(1.0) == "decline" and champion.decide(-1.0) == "approve"
    assert load_champion(isolated.mlflow, f"{names['model_name']}-absent") is None


def test_a_model_trained_on_shuffled_labels_is_registered_but_not_promoted(world, first_run):
    isolated, names, _ = world
    dataset = load_dataset(
        isolated.mysql,
        isolated.lakehouse.model_copy(update={"root": Path("/nonexistent-lakehouse")}),
    )
    split = temporal_split(dataset.times, holdout_days=int(HOLDOUT_DAYS))
    labels = dataset.labels.copy()
    # Shuffle only the training period: the holdout keeps its true labels, so both models
    # are judged on the same truth.
    labels[split.train] = np.random.default_rng(0).permutation(labels[split.train])
    config = TrainConfig(holdout_days=int(HOLDOUT_DAYS), threads=1, **names)
    result = train_fraud(
        dataset.with_labels(labels, "shuffled"), config, isolated.mlflow, promote=True
    )
    assert result.promotion is not None and not result.promotion.promoted
    assert result.champion_auc_pr is not None
    assert result.champion_auc_pr > result.evaluation.model.auc_pr
    assert registry.alias_version(isolated.mlflow, names["model_name"], "challenger") == (
        result.version
    )
    assert registry.alias_version(isolated.mlflow, names["model_name"], "champion") == "1"


def test_a_ground_truth_labels_file_replaces_the_ledger_chargebacks(world, tmp_path):
    isolated, _, ledger = world
    labels = tmp_path / "labels-11.jsonl"
    first_fraud = ledger.refunds[:5]
    labels.write_text(
        "".join(json.dumps({"payment_id": r["payment_id"]}) + "\n" for r in first_fraud)
    )
    no_gold = isolated.lakehouse.model_copy(update={"root": tmp_path / "no-lakehouse"})
    dataset = load_dataset(isolated.mysql, no_gold, labels)
    assert dataset.label_source == "file"
    assert set(dataset.frame.loc[dataset.frame["label"] == 1, "payment_id"]) == {
        r["payment_id"] for r in first_fraud
    }
    assert dataset.data_version.startswith("file-n1500-p5-")
    assert dataset.matrix.shape == (1500, len(FEATURES))


def test_training_on_a_ledger_without_decisions_says_to_run_the_risk_agent(stack, settings):
    name = f"paystream_fraud_{uuid.uuid4().hex[:8]}"
    mysql = create_ledger_database(settings.mysql, name)
    try:
        done = subprocess.run(
            [PAYSTREAM, "train", "fraud", "--model-name", f"test-{name}"],
            env=_env(mysql),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        drop_ledger_database(settings.mysql, name)
    assert done.returncode == 2
    assert "paystream streams risk" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
