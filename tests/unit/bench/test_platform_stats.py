"""The platform benchmark's pure pieces: pacing, percentiles and the sustained-rate rule."""

from __future__ import annotations

import pytest

from bench.lib.platform_stats import (
    BOUND_S,
    GROWTH_LIMIT_S,
    Latency,
    due_at,
    highest_sustained,
    judge,
    lag_growth,
    lag_summary,
    sample_stride,
    window_indices,
)


def test_payments_are_due_on_a_fixed_open_loop_schedule() -> None:
    assert due_at(100.0, 500, 0) == 100.0
    assert due_at(100.0, 500, 500) == pytest.approx(101.0)
    assert due_at(100.0, 200, 3) == pytest.approx(100.015)


@pytest.mark.parametrize(
    ("rate", "warmup", "seconds"),
    [(200, 10, 60), (500, 10, 60), (1000, 2, 5), (100, 2, 5), (333, 1.5, 7)],
)
def test_the_window_holds_rate_times_seconds_payments_after_the_warmup(
    rate: float, warmup: float, seconds: float
) -> None:
    window = window_indices(rate, warmup, seconds)
    assert len(window) == pytest.approx(rate * seconds, abs=1)
    assert window.start / rate >= warmup - 1e-9
    assert (window.start - 1) / rate < warmup
    assert (window.stop - 1) / rate < warmup + seconds


def test_sample_stride_gives_about_the_wanted_samples_a_second() -> None:
    assert sample_stride(1000, 2) == 500
    assert sample_stride(200, 2) == 100
    assert sample_stride(1, 5) == 1
    assert sample_stride(500, 0) == 0


def test_latency_percentiles_come_from_every_value() -> None:
    values = [float(v) for v in range(1, 1001)]
    latency = Latency.of(values)
    assert latency.count == 1000
    assert latency.p50 == pytest.approx(500, abs=1)
    assert latency.p99 == pytest.approx(990, abs=1)
    assert latency.p999 == pytest.approx(999, abs=1)
    assert Latency.of([]) == Latency(0, 0.0, 0.0, 0.0)


def _sawtooth(rate: float, seconds: int, growth_per_s: float = 0.0) -> list[tuple[float, int]]:
    # Commits every second or so: the lag swings between 0 and a second of input.
    return [(float(t), int(rate * (t % 2) / 2 + growth_per_s * t)) for t in range(seconds + 1)]


def test_a_steady_sawtooth_does_not_count_as_growth() -> None:
    assert abs(lag_growth(_sawtooth(1000, 60), 60)) <= 500


def test_growth_compares_the_medians_of_both_ends() -> None:
    series = [(float(t), 100 * t) for t in range(61)]
    # first 10 s: median of 0..1000 = 500; last 10 s: median of 5000..6000 = 5500
    assert lag_growth(series, 60) == 5000
    assert lag_growth([], 60) == 0.0
    assert lag_growth([(0.0, 5), (1.0, 9)], 1) == 4
    assert lag_summary(series) == (0, 6000, 6000)
    assert lag_summary([]) == (0, 0, 0)


def _judge(lag: dict[str, list[tuple[float, int]]], **kw: int) -> tuple[bool, tuple[str, ...]]:
    args = {"scheduled": 60_000, "sent": 60_000, "errors": 0, "missing": 0}
    args.update(kw)
    verdict = judge(1000, 60, lag=lag, **args)
    return verdict.sustained, verdict.reasons


def test_a_rate_is_sustained_when_every_group_keeps_up() -> None:
    ok, reasons = _judge({"ledger": _sawtooth(1000, 60), "risk": _sawtooth(1000, 60)})
    assert ok and reasons == ()


def test_growing_lag_fails_the_rate_and_names_the_group() -> None:
    # 100 records/s more than it consumes: 5,000 records over 50 s > 2 s of input.
    ok, reasons = _judge({"ledger": _sawtooth(1000, 60), "graph": _sawtooth(1000, 60, 100)})
    assert not ok
    assert any("graph lag grew" in r for r in reasons)
    assert not any("ledger" in r for r in reasons)


def test_a_lag_above_the_bound_fails_even_without_growth() -> None:
    high = [(float(t), int(BOUND_S * 1000) + 1) for t in range(61)]
    ok, reasons = _judge({"risk": high})
    assert not ok and any("reached" in r for r in reasons)
    assert lag_growth(high, 60) == 0


def test_growth_just_under_the_limit_is_sustained() -> None:
    limit = GROWTH_LIMIT_S * 1000
    series = [(float(t), 0 if t <= 10 else int(limit)) for t in range(61)]
    assert _judge({"ledger": series})[0]
    series = [(float(t), 0 if t <= 10 else int(limit) + 1) for t in range(61)]
    assert not _judge({"ledger": series})[0]


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"sent": 50_000}, "generator sent"),
        ({"errors": 700}, "not accepted"),
        ({"missing": 3}, "not visible"),
    ],
)
def test_offer_errors_and_missing_payments_fail_the_rate(kw: dict[str, int], words: str) -> None:
    ok, reasons = _judge({"ledger": _sawtooth(1000, 60)}, **kw)
    assert not ok and any(words in r for r in reasons)


def test_no_lag_samples_is_not_a_pass() -> None:
    assert not _judge({})[0]


def test_highest_sustained_rate() -> None:
    ok = judge(200, 60, 12_000, 12_000, 0, 0, {"g": [(0.0, 0), (60.0, 0)]})
    bad = judge(1000, 60, 60_000, 60_000, 0, 5, {"g": [(0.0, 0), (60.0, 0)]})
    assert highest_sustained({200: ok, 500: ok, 1000: bad}) == 500
    assert highest_sustained({1000: bad}) == 0.0


def test_growth_has_a_floor_in_records_at_low_rates() -> None:
    # 450 records over the minute at 100/s is 4.5 s of input, but within the 500 floor.
    series = [(float(t), 0 if t <= 10 else 450) for t in range(61)]
    assert judge(100, 60, 6000, 6000, 0, 0, {"ledger": series}).sustained
    series = [(float(t), 0 if t <= 10 else 501) for t in range(61)]
    assert not judge(100, 60, 6000, 6000, 0, 0, {"ledger": series}).sustained


def test_a_late_generator_does_not_offer_the_rate() -> None:
    lag = {"ledger": _sawtooth(1000, 60)}
    assert judge(1000, 60, 60_000, 60_000, 0, 0, lag, slip_p99_ms=50).sustained
    verdict = judge(1000, 60, 60_000, 60_000, 0, 0, lag, slip_p99_ms=600)
    assert not verdict.sustained and "behind its schedule" in verdict.reasons[0]
