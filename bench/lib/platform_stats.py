"""The pure parts of the platform benchmark: pacing, percentiles and the "no growing lag" rule.

Pacing is open loop: payment ``n`` of a rate is due at ``start + n / rate`` whatever the
server answered before, so a slow answer delays no later payment (no coordinated omission).

A rate is **sustained** when, over its measured window:

* the generator offered it: payments sent in the window are at least
  :data:`MIN_OFFERED_SHARE` of ``rate × seconds``, and 99 % of them left at most
  :data:`SLIP_LIMIT_MS` after they were due;
* intake accepted it: non-202 answers are at most :data:`MAX_ERROR_SHARE` of the posts;
* every consumer group kept up: its lag (records not yet committed, summed over the topics it
  reads) has a median over the last :data:`EDGE_S` seconds of the window no more than
  ``max(GROWTH_LIMIT_S × rate, GROWTH_FLOOR)`` records above its median over the first
  ``EDGE_S`` seconds, and its largest sample stays at or below ``BOUND_S × rate`` records;
  the medians smooth the saw-tooth of periodic commits (stream workers every second, the
  risk agent every 0.5 s). The API's intake is judged the same way, its backlog being the
  posts sent and not answered yet;
* every payment of the window became visible, as a decision and on the replica, before the
  benchmark stopped waiting.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.lib.stats import percentile

#: Seconds at each end of the window whose lag medians are compared.
EDGE_S = 10.0
#: Allowed growth of a group's lag over the window, in seconds of input, and in records at
#: least (a commit saw-tooth at low rates is a few hundred records wide).
GROWTH_LIMIT_S = 2.0
GROWTH_FLOOR = 500
#: Largest lag allowed anywhere in the window, in seconds of input.
BOUND_S = 10.0
#: Share of the scheduled payments the generator must have sent.
MIN_OFFERED_SHARE = 0.95
#: Share of posts allowed to answer anything but 202.
MAX_ERROR_SHARE = 0.01
#: Latest the generator may send 99 % of the payments after they are due.
SLIP_LIMIT_MS = 100.0

LagSeries = list[tuple[float, int]]  # (seconds since the window started, records of lag)


def due_at(start: float, rate: float, n: int) -> float:
    """When payment ``n`` (from 0) of a steady ``rate`` is due, on the clock of ``start``."""
    return start + n / rate


def window_indices(rate: float, warmup_s: float, seconds: float) -> range:
    """The payment numbers whose due time falls in ``[warmup_s, warmup_s + seconds)``."""
    first = math.ceil(warmup_s * rate - 1e-9)
    end = math.ceil((warmup_s + seconds) * rate - 1e-9)
    return range(first, end)


def sample_stride(rate: float, per_s: float) -> int:
    """Every how many payments one is sampled so that about ``per_s`` a second are."""
    if per_s <= 0:
        return 0
    return max(1, round(rate / per_s))


@dataclass(frozen=True)
class Latency:
    """Percentiles of one latency over every payment of a window, in ms."""

    count: int
    p50: float
    p99: float
    p999: float

    @classmethod
    def of(cls, values: list[float]) -> Latency:
        """Percentiles of ``values`` (all zero and count 0 when there are none)."""
        if not values:
            return cls(0, 0.0, 0.0, 0.0)
        return cls(
            len(values), percentile(values, 50), percentile(values, 99), percentile(values, 99.9)
        )

    def describe(self) -> str:
        """``p50 / p99 / p99.9`` for the notes."""
        return f"{self.p50:,.1f} / {self.p99:,.1f} / {self.p999:,.1f}"


def lag_growth(series: LagSeries, window_s: float, edge_s: float = EDGE_S) -> float:
    """Median lag of the window's last ``edge_s`` seconds minus that of its first ones.

    With fewer than two samples at either end, the first and last samples stand in.
    """
    if not series:
        return 0.0
    edge = min(edge_s, window_s / 2)
    head = [lag for t, lag in series if t <= edge]
    tail = [lag for t, lag in series if t >= window_s - edge]
    start = statistics.median(head) if len(head) >= 2 else series[0][1]
    end = statistics.median(tail) if len(tail) >= 2 else series[-1][1]
    return float(end - start)


@dataclass(frozen=True)
class Verdict:
    """Whether one window sustained its rate, and if not, why."""

    sustained: bool
    reasons: tuple[str, ...]


def judge(
    rate: float,
    window_s: float,
    scheduled: int,
    sent: int,
    errors: int,
    missing: int,
    lag: dict[str, LagSeries],
    slip_p99_ms: float = 0.0,
) -> Verdict:
    """Apply the module's definition of a sustained rate to one measured window."""
    reasons: list[str] = []
    if sent < MIN_OFFERED_SHARE * scheduled:
        reasons.append(f"generator sent {sent:,} of {scheduled:,} scheduled payments")
    if slip_p99_ms > SLIP_LIMIT_MS:
        reasons.append(f"generator fell behind its schedule (p99 {slip_p99_ms:,.0f} ms late)")
    if sent and errors > MAX_ERROR_SHARE * sent:
        reasons.append(f"{errors:,} of {sent:,} posts not accepted")
    if missing:
        reasons.append(f"{missing:,} payments not visible when the benchmark stopped waiting")
    for group, series in sorted(lag.items()):
        growth = lag_growth(series, window_s)
        peak = max((v for _, v in series), default=0)
        if growth > max(GROWTH_LIMIT_S * rate, GROWTH_FLOOR):
            reasons.append(f"{group} lag grew by {growth:,.0f} records")
        if peak > BOUND_S * rate:
            reasons.append(f"{group} lag reached {peak:,} records")
    if not lag:
        reasons.append("no lag samples")
    return Verdict(not reasons, tuple(reasons))


def highest_sustained(verdicts: dict[float, Verdict]) -> float:
    """The highest rate that was sustained (0 if none was)."""
    return max((rate for rate, v in verdicts.items() if v.sustained), default=0.0)


def lag_summary(series: LagSeries) -> tuple[int, int, int]:
    """(first sample, last sample, largest sample) of one group's lag in a window."""
    if not series:
        return 0, 0, 0
    return series[0][1], series[-1][1], max(v for _, v in series)
