"""The Handbook's backtest protocol: folds, known compromised cards, empty features."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.fraud.backtest import Protocol, backtest, empty_columns, fill_empty, plan_folds
from ml.fraud.dataset import DatasetError, FraudDataset
from ml.fraud.evaluate import card_precision_per_day
from ml.fraud.model import build_model
from ml.fraud.train import TrainConfig
from paystream.contracts.fraud_features import FEATURES

D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


def _days(n: int) -> np.ndarray:
    return np.asarray([D1 + timedelta(days=i) for i in range(n)], dtype=object)


def test_one_fold_is_train_then_delay_then_test_ending_after_the_last_day() -> None:
    (fold,) = plan_folds(_days(21), Protocol())
    assert (fold.train_start, fold.train_end) == (date(2026, 1, 1), date(2026, 1, 8))
    assert (fold.test_start, fold.test_end) == (date(2026, 1, 15), date(2026, 1, 22))


def test_prequential_folds_shift_back_one_test_window_each() -> None:
    folds = plan_folds(_days(28), Protocol(folds=3))
    assert [f.test_start for f in folds] == [date(2026, 1, 22), date(2026, 1, 15)]
    assert folds[1].train_start == D1  # a third fold would start before the data


def test_too_short_a_history_says_how_many_days_one_fold_needs() -> None:
    with pytest.raises(DatasetError, match="one fold needs 21"):
        plan_folds(_days(20), Protocol())


def test_card_precision_drops_known_and_already_detected_cards_by_hand() -> None:
    # Day 1: A .9 fraud, B .8 legit, C .1 fraud; k=2 ranks A, B -> 1/2, and A is detected.
    # Day 2: A .95 fraud (detected: gone), C .7 fraud, D .6 legit -> C, D -> 1/2.
    days = [D1, D1, D1, D2, D2, D2]
    cards = ["A", "B", "C", "A", "C", "D"]
    labels = [1, 0, 1, 1, 1, 0]
    scores = [0.9, 0.8, 0.1, 0.95, 0.7, 0.6]
    plain = card_precision_per_day(days, cards, labels, scores, 2)
    assert plain == {D1: 0.5, D2: 1.0}  # without removal, day 2 ranks A and C again
    handbook = card_precision_per_day(days, cards, labels, scores, 2, drop_detected=True)
    assert handbook == {D1: 0.5, D2: 0.5}
    # C was already known compromised on day 2: only D is left to rank, 0/2.
    known = card_precision_per_day(
        days,
        cards,
        labels,
        scores,
        2,
        known=lambda d: {"C"} if d == D2 else set(),
        drop_detected=True,
    )
    assert known == {D1: 0.5, D2: 0.0}


def test_a_feature_missing_in_every_row_would_break_the_fit_and_is_filled() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(200, 3))
    rows[:, 1] = np.nan
    y = (rows[:, 0] > 0.5).astype(int)
    assert empty_columns(rows) == [1]
    config = TrainConfig(max_iter=10)
    try:
        build_model(config).fit(rows, y)
    except ValueError as exc:  # the pinned scikit-learn's failure mode
        assert "window shape" in str(exc)
    model = build_model(config).fit(fill_empty(rows, [1]), y)
    assert model.predict_proba(rows)[:, 1].shape == (200,)


def _dataset(days: int = 21, per_day: int = 60, seed: int = 1) -> FraudDataset:
    """Payments whose first feature separates fraud, with device features never present."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(days=i // per_day, minutes=i % per_day) for i in range(n)]
    labels = (rng.random(n) < 0.1).astype(int)
    matrix = rng.normal(size=(n, len(FEATURES)))
    matrix[:, 0] += 3 * labels
    device = [FEATURES.index(f) for f in ("device_count_1h", "device_count_24h")]
    matrix[:, device] = np.nan
    frame = pd.DataFrame(
        {
            "payment_id": [f"p{i}" for i in range(n)],
            # Every seventh payment by wallet or FPS: no card, fraud or not.
            "card": [None if i % 7 == 0 else f"card{i % 400}" for i in range(n)],
            "authorized_at": pd.to_datetime(times, utc=True),
            # The rules see a weaker, noisier signal than the features.
            "rules_score": np.clip(0.5 + 0.1 * labels + rng.normal(0, 0.2, n), 0, 1),
            "label": labels,
        }
    )
    return FraudDataset(frame, matrix, "test", "synthetic")


def test_a_backtest_scores_rules_model_and_logistic_on_the_same_test_days() -> None:
    result = backtest(_dataset(), Protocol(k=10), TrainConfig(max_iter=30, threads=1))
    (fold,) = result.folds
    assert fold.test_rows == 7 * 60 and fold.train_rows == 7 * 60
    assert fold.empty_features == ["device_count_1h", "device_count_24h"]
    for detector in ("rules", "model", "logistic"):
        for metric in ("auc_roc", "average_precision", "card_precision_at_k"):
            assert math.isfinite(result.mean(detector, metric)), (detector, metric)
    # The features separate fraud far better than the noisy rules score.
    assert result.mean("model", "auc_roc") > result.mean("rules", "auc_roc") + 0.1
    assert result.mean("logistic", "auc_roc") > result.mean("rules", "auc_roc") + 0.1
