"""Temporal splits: the holdout is always the latest period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml.fraud.split import SplitError, temporal_split

START = datetime(2026, 1, 5, tzinfo=UTC)


def hourly(days: int) -> list[datetime]:
    return [START + timedelta(hours=h) for h in range(24 * days)]


def test_holdout_days_holds_out_exactly_the_last_calendar_days():
    times = hourly(10)
    split = temporal_split(times, holdout_days=3)
    held = [t for t, h in zip(times, split.holdout, strict=True) if h]
    assert split.holdout_start == START + timedelta(days=7)
    assert held == times[24 * 7 :]


def test_the_default_holds_out_the_last_30_percent_of_the_days():
    split = temporal_split(hourly(10))
    assert split.holdout.sum() == 3 * 24


def test_validation_is_the_end_of_the_training_period_and_precedes_the_holdout():
    times = hourly(10)
    split = temporal_split(times, holdout_days=3, validation_fraction=0.2)
    fit = [t for t, m in zip(times, split.fit, strict=True) if m]
    val = [t for t, m in zip(times, split.validation, strict=True) if m]
    assert max(fit) < min(val) < split.holdout_start
    assert not (split.fit & split.holdout).any() and not (split.validation & split.holdout).any()
    assert split.train.sum() == 7 * 24
    # 20% of the 7-day training range is about 1.4 days.
    assert 32 <= split.validation.sum() <= 35


def test_a_single_day_is_split_by_time_within_the_day():
    times = [START + timedelta(minutes=10 * i) for i in range(100)]
    split = temporal_split(times)
    assert 25 <= split.holdout.sum() <= 35
    assert split.holdout[-1] and not split.holdout[0]


def test_holding_out_every_day_is_refused_with_a_hint():
    with pytest.raises(SplitError, match="--holdout-days"):
        temporal_split(hourly(3), holdout_days=3)


def test_the_split_ignores_the_row_order():
    times = hourly(5)[::-1]
    split = temporal_split(times, holdout_days=1)
    assert split.holdout[:24].all() and not split.holdout[24:].any()
