"""`paystream lakehouse run` keeps gold fresh by itself, and a SIGKILL in the middle of a
refresh (silver committed, gold not yet) loses and duplicates nothing: after a restart gold
reconciles with the ledger to the minor unit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable

from harness.worlds import create_world
from ingest.simulator.generator import SimulationConfig, simulate
from lakehouse.reconcile import reconcile_gold
from paystream.contracts.freshness import GoldFreshness
from paystream.stores.redis import RedisKeys, sync_client

pytestmark = pytest.mark.integration

SIM = SimulationConfig(seed=616, merchants=4, customers=30, days=2)
PAYSTREAM = str(Path(sys.executable).parent / "paystream")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [PAYSTREAM, "lakehouse", "run", "--interval", "2", "--metrics-port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=60)


def _freshness(settings) -> GoldFreshness | None:
    key = RedisKeys(settings.streams.namespace).gold_freshness
    return GoldFreshness.from_fields(sync_client(settings.redis).hgetall(key))


def _wait_covering(settings, moment: datetime, proc, log: Path, timeout_s: float) -> None:
    """Until a successful refresh that started after ``moment`` is recorded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service exited; see {log}"
        record = _freshness(settings)
        if record is not None and record.status == "ok" and record.covers_until > moment:
            return
        time.sleep(1)
    raise TimeoutError(f"no refresh covered {moment} within {timeout_s:.0f} s; see {log}")


def _versions(table: Path) -> int:
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def test_the_service_refreshes_gold_and_a_kill_mid_refresh_leaves_gold_equal_to_the_ledger(
    stack, settings, tmp_path
):
    world = create_world(settings, tmp_path / "logs", partitions=2)
    root = tmp_path / "root"
    env = {
        **world.env,
        "PAYSTREAM_LAKEHOUSE__ROOT": str(root),
        "PAYSTREAM_LAKEHOUSE__SPARK_MASTER": "local[2]",
        "PAYSTREAM_LAKEHOUSE__EVENTS_REFRESH_INTERVAL_S": "1",
    }
    lake_settings = world.settings.model_copy(
        update={"lakehouse": settings.lakehouse.model_copy(update={"root": root})}
    )
    log = tmp_path / "lakehouse-run.log"
    events = [e for e, _ in simulate(SIM)]
    half = len(events) // 2
    service: subprocess.Popen[bytes] | None = None
    try:
        world.start_worker()
        world.publish(events[:half])
        world.wait_processed(len({e.event_id for e in events[:half]}), timeout_s=180)
        # From an empty root: the service's first refresh builds every layer.
        service = _start(env, log)
        _wait_covering(lake_settings, datetime.now(UTC), service, log, timeout_s=400)
        first = reconcile_gold(lake_settings)
        assert first.ok, first.mismatches[:5]

        world.publish(events[half:])
        world.wait_processed(len({e.event_id for e in events}), timeout_s=180)
        # Killed the moment the silver ledger commits: mid-refresh, before gold's merge.
        payments = root / "silver" / "payments"
        before = _versions(payments)
        deadline = time.monotonic() + 300
        while _versions(payments) == before:
            assert time.monotonic() < deadline, f"no silver commit in 300 s; see {log}"
            time.sleep(0.1)
        _stop(service, signal.SIGKILL)
        killed_at = datetime.now(UTC)

        service = _start(env, log)
        _wait_covering(lake_settings, killed_at, service, log, timeout_s=400)
        _stop(service, signal.SIGTERM)

        report = reconcile_gold(lake_settings)
        assert report.ok, report.mismatches[:5]
        assert sum(c.get("payment_count", 0) for c in report.gold.values()) > 0
        # Bronze and silver events hold every published event exactly once.
        silver = DeltaTable(str(root / "silver" / "events_payments")).to_pyarrow_table()
        ids = silver.column("event_id").to_pylist()
        assert len(ids) == len(set(ids))
        published = {str(e.event_id) for e in events if type(e).topic == "payments"}
        assert set(ids) == published
    finally:
        if service is not None and service.poll() is None:
            _stop(service, signal.SIGKILL)
        world.destroy()
