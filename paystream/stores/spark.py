"""The Spark session factory.

Delta and the JDBC/Kafka connectors come from jars fetched by ``paystream stack up`` into
``.cache/jars/spark`` and handed to Spark through ``spark.jars``, so Spark never resolves
packages through Ivy (which cannot reach Maven Central from a closed network).

Where Spark runs is chosen by settings alone (``PAYSTREAM_LAKEHOUSE__SPARK_MASTER``):

* ``local[*]`` / ``local[2]``: in this process (the default; tests and benchmarks);
* ``spark://host:7077``, ``yarn``, ``k8s://...``: a cluster; the same jars ship with the job;
* ``databricks``: the job already runs on a Databricks cluster (a wheel or notebook task),
  which provides Delta and the Kafka connector, so the active session is reused as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paystream.errors import ConfigurationError
from paystream.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABRICKS = "databricks"


def spark_jars(settings: LakehouseSettings) -> list[str]:
    """Jar paths for ``spark.jars``.

    Raises:
        ConfigurationError: the Delta jars are missing, naming the command that fetches them.
    """
    jars = sorted(str(p) for p in settings.jars_dir.glob("*.jar"))
    if not any("delta-spark" in j for j in jars):
        raise ConfigurationError(
            f"Delta jars not found in {settings.jars_dir}; fetch them with `paystream stack up`"
        )
    return jars


def _standalone(builder: Any, master: str) -> Any:
    """A standalone cluster's executors: this machine's share, and a reachable driver."""
    host = master.removeprefix("spark://").split(":")[0]
    builder = builder.config("spark.executor.memory", "2g").config("spark.executor.cores", "2")
    if host in ("127.0.0.1", "localhost"):
        # The executors call back to the driver: on a loopback cluster, on loopback too
        # (this host's name may resolve to an address the worker was not bound to).
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    return builder


def build_spark(
    settings: LakehouseSettings,
    app_name: str = "paystream",
    extra: Mapping[str, str] | None = None,
) -> SparkSession:
    """Create (or reuse) the process's Spark session with Delta enabled.

    ``extra`` adds or overrides configuration (the SQL endpoint's jar and extension).
    """
    from pyspark.sql import SparkSession

    if settings.spark_master == DATABRICKS:
        # Databricks owns the session's configuration (Delta, connectors, time zone).
        return SparkSession.builder.appName(app_name).getOrCreate()
    # Python workers (contract validation) must run this interpreter, which has paystream;
    # Spark's default is whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The ledger's DATETIME columns hold UTC without a zone; a JVM in UTC reads them as UTC.
    java_options = f"-Duser.timezone=UTC -Dderby.system.home={settings.root / '_derby'}"
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.jars", ",".join(spark_jars(settings)))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        # Two cores here: a few shuffle partitions beat the default 200 by a wide margin.
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(settings.root / "_warehouse"))
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        # VACUUM below the 7-day default is how tests and `lakehouse vacuum --hours 0` work;
        # the CLI still refuses it unless asked explicitly.
        .config("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        # Small tables: skip the stats collection that dominates tiny commits.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        .config("spark.ui.showConsoleProgress", "false")
        # VACUUM lists files with this many tasks (default 10,000): minutes on 2 cores.
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "4")
    )
    if settings.spark_master.startswith("spark://"):
        builder = _standalone(builder, settings.spark_master)
    for key, value in (extra or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
