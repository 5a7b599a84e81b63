"""Benchmarks of the Delta lakehouse on Spark local (2 cores).

* ``lakehouse.online_retail_build_s``: seconds for a full bronze → silver → gold build of the
  Online Retail replay into a fresh root, as ``make demo`` builds it (no graph export: the
  demo runs ``build_lakehouse(graph=False)``). Reference, same run: the
  bronze step alone (Kafka → Delta, the raw-copy floor of any build).
* ``lakehouse.gold_query_spark_over_deltars_ratio``: the same gold query (monthly net per
  merchant and currency) through Spark SQL over its time through delta-rs/DataFusion, per run.
  Both engines are warm (one untimed run each first). Reference: the delta-rs seconds.
* ``lakehouse.incremental_over_full_ratio``: an incremental silver ledger refresh after about
  1 % new rows over a full re-pull of the same tables, per run. Reference: full seconds.

The replay is loaded once into an isolated world (its own topics, ledger, graph namespace)
by real stream workers; every figure is then measured on it.

    python -m bench.lakehouse --runs 3                 # the full Online Retail file
    python -m bench.lakehouse --runs 3 --limit 20000   # a quick proof on a prefix
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.record import Figure, write
from compose.local.stack import LocalStack
from harness.worlds import StreamWorld, create_world
from lakehouse.jobs import run_build
from lakehouse.paths import LakePaths
from paystream.producers.publish import DEFAULT_FILE, run_online_retail
from paystream.producers.simulate import SimulationConfig, simulate
from paystream.settings import REPO_ROOT, Settings, get_settings
from paystream.stores.spark import build_spark

console = Console()
LOGS = REPO_ROOT / ".stack" / "bench" / "lakehouse"
GOLD_QUERY = (
    "SELECT merchant_id, currency, SUM(net_minor) AS net, SUM(payment_count) AS payments "
    "FROM merchant_statements WHERE granularity = 'month' "
    "GROUP BY merchant_id, currency ORDER BY net DESC"
)


def _with_root(settings: Settings, root: Path) -> Settings:
    lake = settings.lakehouse.model_copy(update={"root": root, "spark_master": "local[2]"})
    return settings.model_copy(update={"lakehouse": lake})


def _load(world: StreamWorld, limit: int | None, workers: int) -> None:
    for _ in range(workers):
        world.start_worker()
    _, seconds = asyncio.run(run_online_retail(world.settings.kafka, DEFAULT_FILE, None, limit))
    console.print(
        f"replayed Online Retail into {world.settings.kafka.topic_prefix} in {seconds:.0f} s"
    )
    world.wait_caught_up(timeout_s=3600)
    time.sleep(2)


def _gold_query_ratio(spark: object, root: Path, runs: int) -> tuple[list[float], list[float]]:
    from pyspark.sql import SparkSession

    from lakehouse.sql import query, table_locations

    assert isinstance(spark, SparkSession)
    for name, location in table_locations(root).items():
        spark.read.format("delta").load(location).createOrReplaceTempView(name)

    def with_spark() -> float:
        started = time.perf_counter()
        spark.sql(GOLD_QUERY).toArrow()
        return time.perf_counter() - started

    def with_deltars() -> float:
        started = time.perf_counter()
        query(root, GOLD_QUERY)
        return time.perf_counter() - started

    with_spark(), with_deltars()  # warm-up: JIT, caches, file listings
    ratios, reference = [], []
    for _ in range(runs):
        s, d = with_spark(), with_deltars()
        ratios.append(s / d)
        reference.append(d)
    return ratios, reference


def main(
    runs: Annotated[int, typer.Option("--runs", min=3)] = 3,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines (a quick proof).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
) -> None:
    """Measure the lakehouse figures and write them to docs/benchmarks.md."""
    settings = get_settings()
    LocalStack(settings).up(lambda line: console.log(line))
    shutil.rmtree(LOGS, ignore_errors=True)
    world = create_world(settings, LOGS / "world", partitions=6)
    base = LOGS / "roots"
    try:
        _load(world, limit, workers)
        for proc in list(world.workers):  # the build gets the cores to itself
            world.kill(proc, sig=15)
        spark = build_spark(_with_root(world.settings, base / "warm").lakehouse, "bench")
        # The demo's build: every layer, no export of the Gremlin graph to silver.
        run_build(_with_root(world.settings, base / "warm"), spark, graph=False)  # warm-up

        builds, bronze = [], []
        for i in range(runs):
            lake = _with_root(world.settings, base / f"run{i}")
            report = run_build(lake, spark, graph=False)
            builds.append(report.seconds)
            bronze.append(sum(s.seconds for s in report.steps if s.layer == "bronze"))
            console.print(f"build {i}: {report.seconds:.1f} s (bronze {bronze[-1]:.1f} s)")

        root = base / "run0"
        query_ratios, deltars_s = _gold_query_ratio(spark, root, runs)
        console.print(f"gold query spark/delta-rs: {[round(r, 2) for r in query_ratios]}")

        from lakehouse.silver.ledger import pull

        lake = _with_root(world.settings, root)
        paths = LakePaths.of(root)
        rows = sum(r.rows_total for r in pull(spark, lake.mysql, paths, full=True))
        world.start_worker()
        inc_ratios, full_s, shares = [], [], []
        for i in range(runs):
            # About 1 % new ledger rows, from events with ids no earlier run used.
            customers = max(5, rows // 100 // 5)  # ~5 ledger rows per customer-day
            events = [
                e for e, _ in simulate(SimulationConfig(seed=9000 + i, customers=customers, days=1))
            ]
            world.publish(events)
            world.wait_caught_up(timeout_s=600)
            time.sleep(1)
            started = time.perf_counter()
            # Look-back 0: only rows written after the stored watermark (the workers are
            # idle, so no transaction is still in flight).
            pulled = pull(spark, lake.mysql, paths, lookback=timedelta(0))
            incremental = time.perf_counter() - started
            shares.append(sum(r.rows_read for r in pulled) / max(rows, 1))
            started = time.perf_counter()
            pull(spark, lake.mysql, paths, full=True)
            full = time.perf_counter() - started
            inc_ratios.append(incremental / full)
            full_s.append(full)
            console.print(
                f"incremental {incremental:.1f} s ({shares[-1]:.2%} new rows) vs full {full:.1f} s"
            )
    finally:
        world.destroy()
        shutil.rmtree(base, ignore_errors=True)

    source = f"first {limit:,} lines of Online Retail" if limit else "full Online Retail replay"
    command = f"python -m bench.lakehouse --runs {runs}" + (f" --limit {limit}" if limit else "")
    figures = [
        Figure(
            "lakehouse.online_retail_build_s", "s", builds, command,
            reference_name="bronze step alone (Kafka → Delta), same builds",
            reference_runs=bronze, target="< 120", higher_is_better=False,
        ),
        Figure(
            "lakehouse.gold_query_spark_over_deltars_ratio", "×", query_ratios, command,
            reference_name="delta-rs/DataFusion seconds", reference_runs=deltars_s,
            higher_is_better=False,
        ),
        Figure(
            "lakehouse.incremental_over_full_ratio", "×", inc_ratios, command,
            reference_name="full silver ledger re-pull seconds", reference_runs=full_s,
            target="< 0.2", higher_is_better=False,
        ),
    ]  # fmt: skip
    notes = (
        f"Input: {source}, loaded by stream workers into an isolated world; Spark local[2] "
        "with Delta 4.0.1. Build = bronze + silver (events, replica ledger; no graph export, "
        "as in make demo) + gold into a fresh root each run, after one untimed warm-up build. "
        "The two ratio figures are per-run ratios (their `ratio` column divides by the "
        "reference seconds and can be ignored); the incremental refresh read "
        f"{min(shares):.2%}–{max(shares):.2%} new rows above the stored watermarks."
    )
    write("Lakehouse", figures, notes)
    console.print("written: docs/benchmarks.md (Lakehouse) and bench/results/lakehouse.*.json")


if __name__ == "__main__":
    typer.run(main)
