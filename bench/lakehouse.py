"""Benchmarks of the Delta lakehouse on Spark local (2 cores).

* ``lakehouse.online_retail_build_s``: seconds for a full bronze → silver → gold build of the
  Online Retail replay into a fresh root, as ``make demo`` builds it (no graph export: the
  demo runs ``build_lakehouse(graph=False)``). Reference, same run: delta-rs writing the
  same gold rows (read back from the build) into a fresh folder, the no-JVM write floor.
* ``lakehouse.gold_query_spark_over_deltars_ratio``: the same gold query (monthly net per
  merchant and currency) through Spark SQL over its time through delta-rs/DataFusion, per run.
  Both engines are warm (one untimed run each first). Reference: the delta-rs seconds.
* ``lakehouse.incremental_over_full_ratio``: ``paystream lakehouse build`` (incremental, the
  default) after about 1 % new events, over the median full build. Reference: the full
  build seconds. Each step's and each gold table's seconds are printed as the profile.
* ``lakehouse.cluster_build_s``: ``paystream lakehouse build --no-graph --master
  spark://127.0.0.1:7077`` on the standalone cluster ``paystream stack up --with
  spark-cluster`` starts (one worker, this machine's cores), into a fresh root, wall seconds
  of the command. Reference, alternating in the same run: the same command with
  ``--master local[2]``.

The replay is loaded once into an isolated world (its own topics, ledger, graph namespace)
by real stream workers; every figure is then measured on it.

    python -m bench.lakehouse --runs 3                 # the full Online Retail file
    python -m bench.lakehouse --runs 3 --limit 20000   # a quick proof on a prefix
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from compose.local.stack import LocalStack
from harness.worlds import StreamWorld, create_world
from ingest.online_retail.replay import DEFAULT_FILE, run_online_retail
from ingest.simulator.generator import SimulationConfig, simulate
from lakehouse.jobs import BuildReport, run_build
from lakehouse.paths import LakePaths
from paystream.contracts.gold import GOLD_PARTITIONS, GOLD_TABLES
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


def _deltars_write(root: Path, target: Path) -> float:
    """Seconds delta-rs takes to write the gold rows of ``root`` into fresh tables."""
    from deltalake import DeltaTable, write_deltalake

    tables = {n: DeltaTable(str(root / "gold" / n)).to_pyarrow_table() for n in GOLD_TABLES}
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    for name, table in tables.items():
        write_deltalake(
            str(target / name),
            table,
            mode="overwrite",
            partition_by=list(GOLD_PARTITIONS.get(name, ())) or None,
        )
    return time.perf_counter() - started


def _cli_build(world: StreamWorld, root: Path, master: str) -> float:
    """Wall seconds of ``paystream lakehouse build --no-graph --master MASTER`` into ``root``."""
    paystream = Path(sys.executable).parent / "paystream"
    argv = [str(paystream), "lakehouse", "build", "--no-graph", "--master", master]
    env = {**world.env, "PAYSTREAM_LAKEHOUSE__ROOT": str(root)}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[1:])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds


def _cluster_builds(
    settings: Settings, world: StreamWorld, base: Path, runs: int
) -> tuple[list[float], list[float]]:
    """Alternating cluster and local[2] builds of the world, each into a fresh root."""
    stack = LocalStack(settings)
    started = stack.up(lambda line: console.log(line), ["spark-master", "spark-worker"])
    master = f"spark://127.0.0.1:{settings.stack.spark_master_port}"
    cluster: list[float] = []
    local: list[float] = []
    try:
        for i in range(runs):
            pair = [("cluster", master), ("local", "local[2]")]
            for kind, where in pair if i % 2 == 0 else pair[::-1]:
                seconds = _cli_build(world, base / f"{kind}{i}", where)
                (cluster if kind == "cluster" else local).append(seconds)
                console.print(f"{kind} build {i} ({where}): {seconds:.1f} s")
                shutil.rmtree(base / f"{kind}{i}", ignore_errors=True)
    finally:
        # Only what this run started: a cluster the developer left running stays.
        if started:
            stack.down(lambda line: console.log(line), started)
    return cluster, local


def _profile(reports: list[BuildReport]) -> str:
    """Median seconds per build step and per gold table, slowest first."""
    steps: dict[str, list[float]] = {}
    for report in reports:
        for step in report.steps:
            steps.setdefault(f"{step.layer}: {step.name}", []).append(step.seconds)
        for name, seconds in report.gold_seconds.items():
            steps.setdefault(f"  gold {name}", []).append(seconds)
    medians = {name: statistics.median(values) for name, values in steps.items()}
    return "; ".join(f"{name.strip()} {seconds:.1f} s" for name, seconds in medians.items())


def main(
    runs: Annotated[int, typer.Option("--runs", min=3)] = 3,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines (a quick proof).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    cluster: Annotated[
        bool, typer.Option("--cluster/--no-cluster", help="Also time the standalone cluster.")
    ] = True,
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

        builds, deltars, full_reports = [], [], []
        for i in range(runs):
            lake = _with_root(world.settings, base / f"run{i}")
            report = run_build(lake, spark, graph=False)
            builds.append(report.seconds)
            full_reports.append(report)
            deltars.append(_deltars_write(base / f"run{i}", base / f"deltars{i}"))
            console.print(
                f"build {i}: {report.seconds:.1f} s; delta-rs writes its gold in "
                f"{deltars[-1]:.1f} s"
            )

        root = base / "run0"
        query_ratios, deltars_s = _gold_query_ratio(spark, root, runs)
        console.print(f"gold query spark/delta-rs: {[round(r, 2) for r in query_ratios]}")

        from lakehouse.silver.ledger import LEDGER_TABLES
        from lakehouse.tables import count

        lake = _with_root(world.settings, root)
        paths = LakePaths.of(root)
        rows = sum(count(spark, paths.table("silver", t.name)) for t in LEDGER_TABLES)
        # 1 % new events: a day of simulated customers, as many as make 1 % of bronze.
        wanted = max(50, count(spark, paths.table("bronze", "events")) // 100)
        probe = sum(1 for _ in simulate(SimulationConfig(seed=8999, customers=100, days=1)))
        customers = max(5, round(100 * wanted / max(probe, 1)))
        world.start_worker()
        full_build = statistics.median(builds)
        inc_ratios, inc_reports, new_events = [], [], []
        for i in range(runs):
            # Events with ids no earlier run used.
            events = [
                e for e, _ in simulate(SimulationConfig(seed=9000 + i, customers=customers, days=1))
            ]
            new_events.append(len(events))
            world.publish(events)
            world.wait_caught_up(timeout_s=600)
            time.sleep(1)
            # The command users run after new events: `paystream lakehouse build`.
            report = run_build(lake, spark, graph=False)
            inc_reports.append(report)
            inc_ratios.append(report.seconds / full_build)
            console.print(
                f"incremental build {i} after {len(events):,} events: {report.seconds:.1f} s "
                f"({inc_ratios[-1]:.2f} of a full build)"
            )
        for proc in list(world.workers):
            world.kill(proc, sig=15)
        spark.stop()
        cluster_s, local_s = _cluster_builds(settings, world, base, runs) if cluster else ([], [])
    finally:
        world.destroy()
        shutil.rmtree(base, ignore_errors=True)

    full_profile, inc_profile = _profile(full_reports), _profile(inc_reports)
    console.print(f"full build profile: {full_profile}")
    console.print(f"incremental build profile: {inc_profile}")
    source = f"first {limit:,} lines of Online Retail" if limit else "full Online Retail replay"
    command = f"python -m bench.lakehouse --runs {runs}" + (f" --limit {limit}" if limit else "")
    figures = [
        Figure(
            "lakehouse.online_retail_build_s", "s", builds, command,
            reference_name="delta-rs writing the same gold rows, same builds",
            reference_runs=deltars, target="< 120", higher_is_better=False,
        ),
        Figure(
            "lakehouse.gold_query_spark_over_deltars_ratio", "×", query_ratios, command,
            reference_name="delta-rs/DataFusion seconds", reference_runs=deltars_s,
            higher_is_better=False,
        ),
        Figure(
            "lakehouse.incremental_over_full_ratio", "×", inc_ratios, command,
            reference_name="full build seconds", reference_runs=builds,
            target="< 0.2", higher_is_better=False,
        ),
    ]  # fmt: skip
    if cluster_s:
        figures.append(
            Figure(
                "lakehouse.cluster_build_s", "s", cluster_s, command,
                reference_name="the same command with --master local[2]",
                reference_runs=local_s, higher_is_better=False,
            )
        )  # fmt: skip
    notes = (
        f"Input: {source}, loaded by stream workers into an isolated world; Spark local[2] "
        "with Delta 4.0.1. Build = bronze + silver (events, replica ledger; no graph export, "
        "as in make demo) + gold into a fresh root each run, after one untimed warm-up build "
        "in the same Spark session. The two ratio figures are per-run ratios (their `ratio` "
        "column divides by the reference seconds and can be ignored). The incremental "
        f"builds each followed {min(new_events):,}–{max(new_events):,} new events (1 % of "
        f"bronze), published to the world's topics and materialized by a stream worker; "
        f"the ledger held {rows:,} rows. "
        "The cluster figure is the wall time of the CLI command, JVM start included, on one "
        "standalone worker with this machine's 2 cores. "
        f"Profile, median seconds, full build: {full_profile}. "
        f"Incremental build: {inc_profile}."
    )
    write("Lakehouse", figures, notes)
    console.print("written: docs/benchmarks.md (Lakehouse) and bench/results/lakehouse.*.json")


if __name__ == "__main__":
    typer.run(main)
