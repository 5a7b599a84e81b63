"""The platform benchmark's figures and tables, from made-up runs (no services)."""

from __future__ import annotations

import pytest

from bench.lib.platform_report import cpu_table, figures, lag_table, latency_table
from bench.lib.platform_run import RateResult, RunResult
from bench.lib.platform_stats import judge


def _rate(rate: float, decision: float, replica: float, growing: bool = False) -> RateResult:
    sent = int(rate * 60)
    lag = {"g": [(float(t), (int(rate) * t if growing else 10)) for t in range(61)]}
    r = RateResult(rate, sent, 60.0, sent=sent)
    r.decision_ms = [decision] * 99 + [decision * 10]
    r.replica_ms = [replica] * 100
    r.broker_ms = [2.0] * 100
    r.lag = lag
    # 0.3 ms of CPU per payment in the API, 0.2 ms in the ledger sink.
    r.cpu = {"api": {"paystream": 0.0003 * sent}, "streams": {"sink ledger": 0.0002 * sent}}
    r.own_cpu_s = 0.0001 * sent
    r.machine_cpu_s = 0.0006 * sent + 1.0
    r.verdict = judge(rate, 60, sent, sent, 0, 0, lag)
    return r


def _runs() -> list[RunResult]:
    return [
        RunResult(
            healthz_ms=[0.5],
            idle_cpu={"api": {"paystream": 0.1}, "streams": {"sink ledger": 0.2}},
            idle_own_cpu_s=0.05,
            idle_machine_cpu_s=1.0,
            idle_s=10,
            rates={
                200.0: _rate(200, 20, 200),
                500.0: _rate(500, 30 + n, 300),
                1000.0: _rate(1000, 80, 600, growing=True),
            },
        )
        for n in range(3)
    ]


def test_figures_are_named_per_rate_with_their_references() -> None:
    found = {f.figure: f for f in figures(_runs(), [200.0, 500.0, 1000.0], "cmd")}
    assert set(found) == {
        "platform.decision_visible_p99_ms_at_200",
        "platform.decision_visible_p99_ms_at_500",
        "platform.decision_visible_p99_ms_at_1000",
        "platform.replica_visible_p99_ms_at_200",
        "platform.replica_visible_p99_ms_at_500",
        "platform.replica_visible_p99_ms_at_1000",
        "platform.sustained_payments_per_s",
        "platform.cpu_ms_per_event",
    }
    assert found["platform.decision_visible_p99_ms_at_500"].runs == [30, 31, 32]
    assert found["platform.decision_visible_p99_ms_at_500"].reference == 2.0
    assert found["platform.replica_visible_p99_ms_at_1000"].value == 600
    # 1,000/s grew its lag in every run: 500/s is the highest sustained.
    assert found["platform.sustained_payments_per_s"].runs == [500, 500, 500]
    assert found["platform.cpu_ms_per_event"].value == pytest.approx(0.5)
    assert found["platform.cpu_ms_per_event"].target == "<= 0.5"


def test_cpu_figure_only_when_500_was_measured() -> None:
    names = {f.figure for f in figures(_runs(), [200.0], "cmd")}
    assert "platform.cpu_ms_per_event" not in names
    assert "platform.decision_visible_p99_ms_at_200" in names


def test_tables_name_every_process_rate_and_group() -> None:
    runs = _runs()
    cpu = cpu_table(runs, [200.0, 500.0])
    assert "| api · paystream | 10.0 | 0.300 | 0.300 |" in cpu
    assert "| **platform total** | 30.0 | 0.500 | 0.500 |" in cpu
    assert "load generator + pollers (not in the total) | 5.0 | 0.100 | 0.100 |" in cpu
    assert "everything else on the machine" in cpu
    lag = lag_table(runs, [1000.0])
    assert "| 1,000/s | g | 0 | 60,000 | 60,000 |" in lag
    assert "0 of 3 runs" in latency_table(runs, [1000.0])
    assert "3 of 3 runs" in latency_table(runs, [200.0])
