"""Fitting and judging the fraud model in memory (no MLflow, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ml.fraud.dataset import DatasetError, FraudDataset, _file_labels, data_version
from ml.fraud.synthetic import make_ledger
from ml.fraud.train import TrainConfig, fit_and_evaluate
from paystream.contracts.fraud_features import FEATURES, to_matrix


def dataset_from(seed: int, days: int = 8, fraud_rate: float = 0.08) -> FraudDataset:
    ledger = make_ledger(
        seed, datetime(2026, 1, 5), days=days, payments_per_day=120, fraud_rate=fraud_rate
    )
    fraud = {r["payment_id"] for r in ledger.refunds}
    rows = ledger.decisions
    frame = pd.DataFrame(
        {
            "payment_id": [r["payment_id"] for r in rows],
            "customer_id": [r["customer_id"] for r in rows],
            "card_fingerprint": [r["card_fingerprint"] for r in rows],
            "card": [r["card_fingerprint"] or f"customer:{r['customer_id']}" for r in rows],
            "authorized_at": pd.to_datetime(
                [r["authorized_at"].replace(tzinfo=UTC) for r in rows], utc=True
            ),
            "rules_score": [r["rules_score"] for r in rows],
            "score": [r["score"] for r in rows],
            "label": [int(r["payment_id"] in fraud) for r in rows],
        }
    ).sort_values("authorized_at", ignore_index=True)
    order = {p: i for i, p in enumerate(r["payment_id"] for r in rows)}
    vectors = [json.loads(rows[order[p]]["features"]) for p in frame["payment_id"]]
    matrix = np.asarray(to_matrix(vectors), dtype=np.float64)
    return FraudDataset(frame, matrix, "test", "synthetic")


def test_the_model_learns_the_signal_and_beats_the_rules_on_the_holdout():
    fitted = fit_and_evaluate(dataset_from(1), TrainConfig(holdout_days=3, max_iter=60, threads=1))
    ev = fitted.evaluation
    assert ev.holdout_days == 3 and ev.holdout_positives > 0
    assert ev.model.auc_pr > ev.rules.auc_pr
    assert ev.model.auc_pr > 0.5
    assert 0.0 <= ev.model_thresholds.review_threshold <= ev.model_thresholds.decline_threshold


def test_the_same_seed_gives_the_same_scores():
    data = dataset_from(2)
    a = fit_and_evaluate(data, TrainConfig(seed=7, max_iter=40, threads=1))
    b = fit_and_evaluate(data, TrainConfig(seed=7, max_iter=40, threads=1))
    assert np.array_equal(a.holdout_scores, b.holdout_scores)


def test_a_model_scores_rows_made_by_to_matrix_from_logged_vectors():
    data = dataset_from(3)
    fitted = fit_and_evaluate(data, TrainConfig(max_iter=20, threads=1))
    row = to_matrix([{"amount_major": 12.5}])  # every other feature missing
    proba = fitted.model.predict_proba(row)
    assert proba.shape == (1, 2) and len(row[0]) == len(FEATURES)


def test_a_holdout_without_fraud_is_refused_with_an_explanation():
    data = dataset_from(4)
    labels = data.labels.copy()
    labels[data.frame["authorized_at"] >= data.frame["authorized_at"].max().normalize()] = 0
    with pytest.raises(DatasetError, match="holdout"):
        fit_and_evaluate(data.with_labels(labels, "x"), TrainConfig(holdout_days=1))


def test_the_data_version_ignores_row_order_and_changes_with_a_label():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    a = data_version("ledger", ["p1", "p2"], [0, 1], at)
    assert a == data_version("ledger", ["p2", "p1"], [1, 0], at)
    assert a != data_version("ledger", ["p1", "p2"], [1, 0], at)
    assert a.startswith("ledger-n2-p1-20260105T000000Z-")


def test_a_labels_file_line_without_payment_id_is_named_in_the_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"payment_id": "p1"}\n\n{"customer_id": "c"}\n')
    with pytest.raises(DatasetError, match=r"labels.jsonl:3"):
        _file_labels(path)
    path.write_text('{"payment_id": "p1", "pattern": "card_testing"}\n')
    assert _file_labels(path) == {"p1"}


def test_gold_fraud_labels_are_read_with_their_delta_version(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    from ml.fraud.dataset import _gold_labels

    table = pa.table({"payment_id": ["p1", "p2", "p3"], "label": pa.array([1, 0, 1], pa.int32())})
    write_deltalake(str(tmp_path / "fraud_labels"), table)
    write_deltalake(str(tmp_path / "fraud_labels"), table, mode="overwrite")
    fraud, labelled, version = _gold_labels(tmp_path / "fraud_labels")
    assert (fraud, labelled, version) == ({"p1", "p3"}, {"p1", "p2", "p3"}, 1)
