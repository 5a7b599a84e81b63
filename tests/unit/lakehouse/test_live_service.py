"""The lakehouse service's choices, with the sources' marks and the build faked: what a
refresh runs, what it skips, and what it records (no Spark, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lakehouse.jobs import BuildReport, StepResult
from lakehouse.live import service as live
from lakehouse.live.lock import writer_lock
from lakehouse.live.metrics import LiveMetrics
from lakehouse.live.service import LakehouseService, Marks
from paystream.contracts.freshness import GoldFreshness
from paystream.errors import ConfigurationError
from paystream.settings import Settings

T0 = datetime(2026, 12, 7, 12, 0)


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[Any, str]] = {}

    def hset(self, key: str, mapping: dict[Any, str]) -> None:
        self.hashes[key] = dict(mapping)


class Builds:
    """Stands in for run_build: records each call's layers, steps and tables."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    def __call__(self, settings, spark, *, layers, graph, steps, ledger_tables) -> BuildReport:
        if self.fail is not None:
            raise self.fail
        ran = [name for name in ("events", "ledger") if steps(name)]
        self.calls.append({"layers": list(layers), "steps": ran, "tables": ledger_tables})
        return BuildReport(steps=[StepResult(layer, "step", "done", 0.1) for layer in layers])


@pytest.fixture
def builds(monkeypatch) -> Builds:
    fake = Builds()
    monkeypatch.setattr(live, "run_build", fake)
    return fake


def _service(monkeypatch, marks: list[Marks], events_interval_s: float = 0.0) -> LakehouseService:
    settings = Settings()
    lake = settings.lakehouse.model_copy(update={"events_refresh_interval_s": events_interval_s})
    service = LakehouseService(
        settings.model_copy(update={"lakehouse": lake}), spark=None, metrics=LiveMetrics()
    )
    service._redis = FakeRedis()  # type: ignore[assignment]
    queue = iter(marks)
    monkeypatch.setattr(service, "marks", lambda: next(queue))
    return service


def _marks(kafka: int, ledger_s: int, tables: frozenset[str] | None = None) -> Marks:
    at = T0 + timedelta(seconds=ledger_s)
    return Marks(kafka=(("payments", kafka),), ledger=(at, at), tables=tables)


def test_the_first_refresh_runs_every_layer_and_pulls_every_ledger_table(monkeypatch, builds):
    service = _service(monkeypatch, [_marks(10, 1)])
    result = service.refresh()
    assert result.error is None
    assert builds.calls == [
        {"layers": ["bronze", "silver", "gold"], "steps": ["events", "ledger"], "tables": None}
    ]


def test_a_refresh_with_nothing_new_starts_no_build_and_still_advances_freshness(
    monkeypatch, builds
):
    service = _service(monkeypatch, [_marks(10, 1), _marks(10, 1, frozenset())])
    service.refresh()
    first = service.last
    result = service.refresh()
    assert len(builds.calls) == 1 and result.steps == []
    assert service.last is not None and first is not None
    assert service.last.covers_until > first.covers_until
    stored = GoldFreshness.from_fields(service._redis.hashes[service._key])  # type: ignore[attr-defined]
    assert stored is not None and stored.covers_until == service.last.covers_until


def test_a_ledger_change_pulls_only_the_changed_tables_and_skips_the_unchanged_events(
    monkeypatch, builds
):
    changed = frozenset({"payments", "risk_decisions"})
    service = _service(monkeypatch, [_marks(10, 1), _marks(10, 5, changed)])
    service.refresh()
    service.refresh()
    assert builds.calls[1] == {"layers": ["silver", "gold"], "steps": ["ledger"], "tables": changed}


def test_new_kafka_records_wait_for_the_events_interval_then_land(monkeypatch, builds):
    marks = [_marks(10, 1), _marks(20, 1, frozenset()), _marks(20, 1, frozenset())]
    service = _service(monkeypatch, marks, events_interval_s=3600)
    service.refresh()
    service.refresh()  # Kafka moved, but events are not due for an hour
    assert len(builds.calls) == 1
    service.settings.lakehouse.events_refresh_interval_s = 0.0
    service.refresh()  # due now: the records that arrived meanwhile land
    assert builds.calls[1]["layers"] == ["bronze", "silver"]
    assert builds.calls[1]["steps"] == ["events"]


def test_a_failed_refresh_is_recorded_and_gold_keeps_its_last_coverage(monkeypatch, builds):
    service = _service(monkeypatch, [_marks(10, 1), _marks(11, 2)])
    service.refresh()
    good = service.last
    builds.fail = ConnectionError("replica refused the connection")
    result = service.refresh()
    assert result.error is not None and "replica refused" in result.error
    assert service.last is not None and good is not None
    assert service.last.status.startswith("failed: ConnectionError")
    assert service.last.covers_until == good.covers_until


def test_the_lag_gauge_grows_when_refreshes_stop():
    metrics = LiveMetrics()
    old = datetime.now(UTC) - timedelta(minutes=10)
    record = GoldFreshness(old, old, None, 1.0)
    metrics.observe(live.Refresh(started_at=old), record)
    assert metrics.registry.get_sample_value("paystream_lakehouse_gold_lag_seconds") >= 600


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    with (
        writer_lock(tmp_path, "the lakehouse service"),
        pytest.raises(ConfigurationError, match="the lakehouse service"),
        writer_lock(tmp_path, "a build"),
    ):
        pass
    with writer_lock(tmp_path, "a build"):  # released when the first one ended
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_periodic_full_pull_runs_while_a_late_commit_is_possible_and_stops_on_a_still_ledger(
    monkeypatch,
):
    clock = Clock()
    monkeypatch.setattr(live.time, "monotonic", clock)
    service = LakehouseService(Settings(), spark=None, metrics=LiveMetrics())
    still = (T0, T0)
    assert service._full_pull_due(still) is False
    clock.now += live.FULL_PULL_EVERY_S
    # Due, and the ledger moved (it was first seen) when the last full pull started.
    assert service._full_pull_due(still) is True
    service._full_pull_at = clock.now
    clock.now += live.FULL_PULL_EVERY_S
    # Still since long before that pull started: nothing can be late, and the clock restarts.
    assert service._full_pull_due(still) is False
    clock.now += 30
    moved = (T0 + timedelta(seconds=5), T0)
    assert service._full_pull_due(moved) is False  # not due again for a while
    clock.now += live.FULL_PULL_EVERY_S
    assert service._full_pull_due(moved) is True  # a commit after the move may be late
