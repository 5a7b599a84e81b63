"""New events land once; duplicates change nothing; older versions stay readable."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from lakehouse.jobs import run_build
from lakehouse.reconcile import reconcile_gold
from paystream.producers.simulate import SimulationConfig, simulate

pytestmark = pytest.mark.integration


def test_incremental_build_adds_new_events_once_and_time_travel_reads_the_previous_version(
    spark, lake
):
    payments = lake.table("silver", "events_payments")
    version_before = DeltaTable(payments).version()
    rows_before = spark.read.format("delta").load(payments).count()
    bronze_before = spark.read.format("delta").load(lake.table("bronze", "events")).count()

    # Another seed: new ids. Half of the earlier world again: same ids, must dedupe.
    fresh = [e for e, _ in simulate(SimulationConfig(seed=516, merchants=2, customers=5, days=1))]
    again = [e for e, _ in simulate(SimulationConfig(seed=515, merchants=6, customers=40, days=3))]
    lake.world.publish(fresh + again[: len(again) // 2])
    lake.world.wait_caught_up(timeout_s=120)
    lake.world.wait_processed(lake.published - lake.hostile + len(fresh), timeout_s=120)

    run_build(lake.settings, spark, graph=False)

    bronze_after = spark.read.format("delta").load(lake.table("bronze", "events")).count()
    assert bronze_after == bronze_before + len(fresh) + len(again) // 2
    new_payment_events = sum(1 for e in fresh if type(e).topic == "payments")
    assert spark.read.format("delta").load(payments).count() == rows_before + new_payment_events
    old = spark.read.format("delta").option("versionAsOf", version_before).load(payments)
    assert old.count() == rows_before
    report = reconcile_gold(lake.settings)
    assert report.ok, report.mismatches
