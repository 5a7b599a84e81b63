"""Temporal splits: the model is always judged on payments later than any it learned from.

A random split would leak a fraud campaign's own transactions into training and flatter the
model; fraud drifts, so the honest question is "how does a model trained on the past do on
the next days?".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from paystream.errors import PaystreamError

BoolArray = npt.NDArray[np.bool_]


class SplitError(PaystreamError):
    """The data cannot be split as asked (too few days)."""


@dataclass(frozen=True)
class TemporalSplit:
    """Boolean masks over the rows, and where the periods start."""

    fit: BoolArray
    validation: BoolArray
    holdout: BoolArray
    validation_start: datetime
    holdout_start: datetime

    @property
    def train(self) -> BoolArray:
        """The whole training period (fit + validation)."""
        return self.fit | self.validation


def _cut_by_days(times: Sequence[datetime], days: int) -> datetime:
    """The start of the last ``days`` calendar days (UTC) present in ``times``."""
    distinct = sorted({t.date() for t in times})
    if len(distinct) <= days:
        raise SplitError(
            f"the data covers {len(distinct)} day(s); holding out {days} leaves nothing to "
            "train on (lower --holdout-days or collect more days)"
        )
    first: date = distinct[-days]
    return datetime(first.year, first.month, first.day, tzinfo=times[0].tzinfo)


def _cut_by_fraction(times: Sequence[datetime], fraction: float) -> datetime:
    """A cut so that the last ``fraction`` of the covered days is held out.

    Whole days when the data spans at least two days; within a single day, the last
    ``fraction`` of its time range.
    """
    distinct = sorted({t.date() for t in times})
    if len(distinct) >= 2:
        days = min(len(distinct) - 1, max(1, math.ceil(fraction * len(distinct))))
        return _cut_by_days(times, days)
    lo, hi = min(times), max(times)
    return lo + (hi - lo) * (1 - fraction)


def temporal_split(
    times: Sequence[datetime],
    holdout_days: int | None = None,
    holdout_fraction: float = 0.3,
    validation_fraction: float = 0.2,
) -> TemporalSplit:
    """Split rows by time into fit, validation (end of the training period) and holdout.

    The holdout is the last ``holdout_days`` calendar days, or, when None, the last
    ``holdout_fraction`` of the days. The validation part is the last
    ``validation_fraction`` of the training period's time range; the thresholds are chosen
    on it, never on the holdout.

    Raises:
        SplitError: a part would be empty.
    """
    if not times:
        raise SplitError("no rows to split")
    if holdout_days is not None and holdout_days < 1:
        raise SplitError("--holdout-days must be at least 1")
    if not 0 < holdout_fraction < 1 or not 0 < validation_fraction < 1:
        raise SplitError("fractions must lie strictly between 0 and 1")
    holdout_start = (
        _cut_by_days(times, holdout_days)
        if holdout_days is not None
        else _cut_by_fraction(times, holdout_fraction)
    )
    stamps = np.array([t.timestamp() for t in times])
    holdout = stamps >= holdout_start.timestamp()
    train_stamps = stamps[~holdout]
    if not train_stamps.size or not holdout.any():
        raise SplitError("the temporal split left the training period or the holdout empty")
    lo, hi = float(train_stamps.min()), float(train_stamps.max())
    validation_cut = hi - (hi - lo) * validation_fraction
    validation = ~holdout & (stamps >= validation_cut)
    fit = ~holdout & ~validation
    if not fit.any() or not validation.any():
        raise SplitError("the training period is too short to split into fit and validation")
    tz = times[0].tzinfo
    return TemporalSplit(
        fit=fit,
        validation=validation,
        holdout=holdout,
        validation_start=datetime.fromtimestamp(validation_cut, tz=tz),
        holdout_start=holdout_start,
    )
