"""The lakehouse build: bronze → silver → gold, as one ordered list of idempotent steps.

Before a layer runs, the service it reads is checked, so a stopped Kafka, replica or Gremlin
Server ends the build with an error naming it and the command that starts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paystream.errors import ConfigurationError, ServiceUnavailableError
from paystream.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.paths import LakePaths

LAYER_NAMES = ("bronze", "silver", "gold")


@dataclass
class StepResult:
    """One step of a build: what it did, in a line, and how long it took."""

    layer: str
    name: str
    detail: str
    seconds: float


@dataclass
class BuildReport:
    """Every step of one build."""

    steps: list[StepResult] = field(default_factory=list)
    #: Rows per gold table; after an incremental build, the rows its MERGE changed.
    gold_rows: dict[str, int] = field(default_factory=dict)
    #: Seconds each gold table took, for profiles (``bench.lakehouse`` prints them).
    gold_seconds: dict[str, float] = field(default_factory=dict)
    #: What an incremental gold build merged (None: gold was recomputed whole).
    gold_merged: str | None = None

    @property
    def seconds(self) -> float:
        """Total time of the steps."""
        return sum(s.seconds for s in self.steps)


def parse_layers(text: str) -> tuple[str, ...]:
    """``"bronze,silver"`` → ``("bronze", "silver")`` in build order.

    Raises:
        ConfigurationError: an unknown layer name.
    """
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = wanted - set(LAYER_NAMES)
    if unknown or not wanted:
        raise ConfigurationError(
            f"unknown layer(s) {', '.join(sorted(unknown)) or '(none)'}; "
            f"choose from {','.join(LAYER_NAMES)}"
        )
    return tuple(layer for layer in LAYER_NAMES if layer in wanted)


def check_kafka(settings: Settings) -> None:
    """Raise ServiceUnavailableError unless the Kafka brokers answer."""
    from paystream.bus.kafka import topic_counts

    asyncio.run(topic_counts(settings.kafka, [settings.kafka.topic("payments")]))


def check_replica(settings: Settings) -> None:
    """Raise ServiceUnavailableError unless the MySQL read replica answers."""
    from paystream.stores.mysql import Database

    database = Database(settings.mysql)
    try:
        Database.identity(database.reader)
    finally:
        database.dispose()


def check_gremlin(settings: Settings) -> None:
    """Raise ServiceUnavailableError unless Gremlin Server answers."""
    from lakehouse.silver.graph import _client

    client = _client(settings.gremlin)
    try:
        client.submit("g.V().limit(1).count()").all().result(timeout=15)
    except Exception as exc:  # the driver raises many types for a refused socket
        raise ServiceUnavailableError("Gremlin", settings.gremlin.url, type(exc).__name__) from exc
    finally:
        client.close()


def wait_for_replica(settings: Settings, timeout_s: float = 30.0) -> bool:
    """Wait (bounded) until the replica applied every commit the primary has made so far.

    The build reads the replica; waiting here means a build that starts right after the
    stream workers caught up sees all of their writes. False when the bound ran out.
    """
    from paystream.stores.mysql import Database

    database = Database(settings.mysql)
    try:
        return database.wait_for_replica(database.primary_position(), timeout_s)
    finally:
        database.dispose()


def run_build(
    settings: Settings,
    spark: SparkSession,
    *,
    layers: Iterable[str] = LAYER_NAMES,
    full: bool = False,
    graph: bool = True,
    on_step: Callable[[str], None] | None = None,
    on_done: Callable[[StepResult], None] | None = None,
    steps: Callable[[str], bool] | None = None,
    ledger_tables: Iterable[str] | None = None,
) -> BuildReport:
    """Run the selected layers in order; every step is safe to run again.

    ``steps`` can skip silver's steps by name (``events``, ``ledger``): the lakehouse
    service refreshes only the sources that changed, and pulls only ``ledger_tables`` (names
    of :data:`lakehouse.silver.ledger.LEDGER_TABLES`; all by default).
    """
    from lakehouse.paths import LakePaths

    paths = LakePaths.of(settings.lakehouse.root)
    chosen = set(layers)
    report = BuildReport()
    wanted = steps or (lambda _name: True)
    plan: list[tuple[str, str, Callable[[], str]]] = []
    if "bronze" in chosen:
        plan.append(("bronze", "Kafka → bronze/events", lambda: _bronze(settings, spark, paths)))
    if "silver" in chosen:
        if wanted("events"):
            plan.append(("silver", "bronze → typed events", lambda: _events(spark, paths, full)))
        if wanted("ledger"):
            plan.append(
                (
                    "silver",
                    "replica → ledger tables",
                    lambda: _ledger(settings, spark, paths, full, ledger_tables),
                )
            )
        if graph:
            plan.append(
                ("silver", "Gremlin → graph tables", lambda: _graph(settings, spark, paths))
            )
    if "gold" in chosen:
        plan.append(("gold", "silver → gold tables", lambda: _gold(spark, paths, report, full)))
    for layer, name, step in plan:
        if on_step is not None:
            on_step(f"{layer}: {name}")
        started = time.monotonic()
        detail = step()
        result = StepResult(layer, name, detail, time.monotonic() - started)
        report.steps.append(result)
        if on_done is not None:
            on_done(result)
    return report


def _bronze(settings: Settings, spark: SparkSession, paths: LakePaths) -> str:
    from lakehouse.bronze.kafka import ingest
    from paystream.stores.spark import DATABRICKS

    check_kafka(settings)
    shaded = settings.lakehouse.spark_master == DATABRICKS
    result = ingest(spark, settings.kafka, paths, shaded=shaded)
    return f"+{result.rows_added:,} records ({result.rows_total:,} in bronze)"


def _events(spark: SparkSession, paths: LakePaths, full: bool) -> str:
    from lakehouse.silver.events import refine

    stats = refine(spark, paths, full=full)
    topics = ", ".join(f"{t} {n:,}" for t, n in sorted(stats.by_topic.items())) or "nothing new"
    return f"{stats.valid:,} valid, {stats.quarantined:,} quarantined ({topics})"


def _ledger(
    settings: Settings,
    spark: SparkSession,
    paths: LakePaths,
    full: bool,
    names: Iterable[str] | None = None,
) -> str:
    from lakehouse.silver.ledger import LEDGER_TABLES, pull

    check_replica(settings)
    if not wait_for_replica(settings):
        # Not fatal: the next incremental run picks up what the replica had not applied.
        pass
    chosen = set(names) if names is not None else None
    tables = tuple(t for t in LEDGER_TABLES if chosen is None or t.name in chosen)
    results = pull(spark, settings.mysql, paths, full=full, tables=tables)
    return ", ".join(f"{r.table} +{r.rows_read:,}" for r in results) or "nothing changed"


def _graph(settings: Settings, spark: SparkSession, paths: LakePaths) -> str:
    from lakehouse.silver.graph import export

    check_gremlin(settings)
    result = export(spark, settings.gremlin, f"{settings.streams.namespace}:", paths)
    return f"{result.vertices:,} vertices, {result.edges:,} edges"


def _gold(spark: SparkSession, paths: LakePaths, report: BuildReport, full: bool) -> str:
    from lakehouse.gold.build import build_gold

    last = time.monotonic()

    def timed(name: str, rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        report.gold_seconds[name] = now - last
        last = now

    result = build_gold(spark, paths, progress=timed, full=full)
    report.gold_rows, report.gold_merged = result.rows, result.merged
    if result.merged:
        # Rows each MERGE inserted, updated or deleted (the tables are not counted).
        changed = ", ".join(f"{name} ±{n:,}" for name, n in report.gold_rows.items())
        return f"merged the slices of {result.merged}: {changed or 'no table touched'}"
    rows = ", ".join(f"{name} {n:,}" for name, n in report.gold_rows.items())
    how = f"recomputed ({result.recomputed_because})" if result.recomputed_because else "recomputed"
    return f"{how}: {rows}"


def with_master(settings: Settings, master: str | None) -> Settings:
    """``settings`` with Spark's master URL replaced by ``master`` when one is given."""
    if master is None:
        return settings
    lake = settings.lakehouse.model_copy(update={"spark_master": master})
    return settings.model_copy(update={"lakehouse": lake})


def ingest_continuously(settings: Settings, spark: SparkSession) -> None:
    """Keep bronze ingesting from Kafka until the process is interrupted."""
    from lakehouse.bronze.kafka import ingest
    from lakehouse.paths import LakePaths

    ingest(spark, settings.kafka, LakePaths.of(settings.lakehouse.root), continuous=True)
