"""Model selection by prequential validation: blocks inside the training period, the best
mean Average Precision wins, the defaults win ties. No services."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml.fraud import selection
from ml.fraud.dataset import FraudDataset
from ml.fraud.selection import select, validation_blocks
from ml.fraud.train import TrainConfig

START = date(2026, 1, 1)


def _days(n: int) -> np.ndarray:
    return np.asarray([START + timedelta(days=i) for i in range(n)], dtype=object)


def test_validation_blocks_end_where_the_training_period_does_and_never_reach_the_test():
    days = _days(60)
    train_start, train_end = START + timedelta(days=30), START + timedelta(days=37)
    blocks = validation_blocks(days, train_start, train_end, 7, 7, 3)
    assert len(blocks) == 2  # a third block would start before the data
    (first_train, first_test), (_, second_test) = blocks
    assert set(days[first_test]) == {train_end - timedelta(days=d) for d in range(1, 8)}
    assert max(days[first_train]) < min(days[first_test]) - timedelta(days=6)
    assert max(days[second_test]) < min(days[first_test])
    for train, test in blocks:
        assert max(days[train | test]) < train_end


def test_the_candidate_with_the_best_validation_score_is_chosen(monkeypatch):
    rng = np.random.default_rng(0)
    n = 60 * 40
    days = np.repeat(_days(60), 40)
    signal = rng.normal(size=n)
    labels = (signal + rng.normal(scale=0.5, size=n) > 1.6).astype(np.int64)
    frame = pd.DataFrame({"label": labels})
    matrix = np.column_stack([signal, rng.normal(size=n)])
    dataset = FraudDataset(frame, matrix, "v", "test")
    # A grid where one candidate cannot learn (one leaf per tree and a single iteration).
    monkeypatch.setattr(selection, "GRID", ({"max_iter": 1, "max_leaf_nodes": 2}, {"max_iter": 50}))
    chosen = select(
        dataset, days, START + timedelta(days=30), START + timedelta(days=37), 7, 7, TrainConfig()
    )
    assert chosen.changes == {"max_iter": 50} and chosen.config.max_iter == 50
    assert chosen.blocks == 2 and len(chosen.scores) == 2


def test_without_room_for_a_block_the_defaults_stand():
    days = _days(10)
    dataset = FraudDataset(
        pd.DataFrame({"label": np.zeros(10, dtype=np.int64)}), np.zeros((10, 2)), "v", "t"
    )
    chosen = select(
        dataset, days, START + timedelta(days=1), START + timedelta(days=8), 7, 7, TrainConfig()
    )
    assert chosen.changes == {} and chosen.blocks == 0
