"""The Spark session factory.

Delta and the JDBC/Kafka connectors come from jars fetched by ``paystream stack up`` into
``.cache/jars/spark`` and handed to Spark through ``spark.jars``, so Spark never resolves
packages through Ivy (which cannot reach Maven Central from a closed network).

Where Spark runs is chosen by settings alone (``PAYSTREAM_LAKEHOUSE__SPARK_MASTER``):

* ``local[*]`` / ``local[2]``: in this process (the default; tests and benchmarks);
* ``spark://host:7077``, ``yarn``, ``k8s://...``: a cluster; the same jars ship with the job;
* ``databricks``: the job already runs on a Databricks cluster (a wheel or notebook task),
  which provides Delta and the Kafka connector, so the active session is reused as it is.

The driver's JVM writes to the terminal by itself: the JVM's own warnings, the log4j banner,
Hadoop's and Spark's start-up warnings. None of it is news to someone running a command, so
by default the JVM is started with its stdout and stderr going to ``<stack home>/logs/spark.log``
instead; ``paystream -v`` (:func:`show_jvm_output`) lets it through to the terminal again.
Spark's own errors still reach the caller as Python exceptions.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from paystream.errors import ConfigurationError
from paystream.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABRICKS = "databricks"

# Process-wide, like the logging configuration it sits beside: the CLI's -v sets it once.
_show_jvm_output = False


def show_jvm_output(show: bool = True) -> None:
    """Let the driver JVM's console output through to the terminal (``-v``): the log4j
    banner, Hadoop's and Spark's start-up warnings, and Spark's warnings afterwards.

    Applies to JVMs started after the call; by default that output goes to
    :func:`spark_log_path`.
    """
    global _show_jvm_output
    _show_jvm_output = show


def spark_log_path() -> Path:
    """Where a quiet driver JVM's stdout and stderr go: ``<stack home>/logs/spark.log``."""
    from paystream.settings import get_settings

    return get_settings().stack.home / "logs" / "spark.log"


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


def _standalone(master: str) -> dict[str, str]:
    """A standalone cluster's executors: this machine's share, and a reachable driver."""
    host = master.removeprefix("spark://").split(":")[0]
    options = {"spark.executor.memory": "2g", "spark.executor.cores": "2"}
    if host in ("127.0.0.1", "localhost"):
        # The executors call back to the driver: on a loopback cluster, on loopback too
        # (this host's name may resolve to an address the worker was not bound to).
        options |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    return options


def _options(settings: LakehouseSettings, app_name: str) -> dict[str, str]:
    """The session's configuration, before the caller's ``extra``."""
    # The ledger's DATETIME columns hold UTC without a zone; a JVM in UTC reads them as UTC.
    java_options = f"-Duser.timezone=UTC -Dderby.system.home={settings.root / '_derby'}"
    options = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(spark_jars(settings)),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Two cores here: a few shuffle partitions beat the default 200 by a wide margin.
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "2g",
        "spark.sql.warehouse.dir": str(settings.root / "_warehouse"),
        "spark.driver.extraJavaOptions": java_options,
        "spark.executor.extraJavaOptions": java_options,
        # VACUUM below the 7-day default is how tests and `lakehouse vacuum --hours 0` work;
        # the CLI still refuses it unless asked explicitly.
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        # Small tables: skip the stats collection that dominates tiny commits.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # Independent tables are written by concurrent threads (gold merges, ledger pulls),
        # each in its own pool: FAIR shares the cores between them instead of queueing.
        "spark.scheduler.mode": "FAIR",
        "spark.ui.showConsoleProgress": "false",
        # VACUUM lists files with this many tasks (default 10,000): minutes on 2 cores.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    }
    if settings.spark_master.startswith("local"):
        # The driver's RPC and block manager would listen on the machine's external address:
        # nothing outside this machine talks to a local driver, so they bind to loopback.
        options |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    elif settings.spark_master.startswith("spark://"):
        options |= _standalone(settings.spark_master)
    options |= _authentication(settings)
    return options


def _authentication(settings: LakehouseSettings) -> dict[str, str]:
    """``spark.authenticate`` and RPC encryption with the shared secret, on a cluster.

    Raises:
        ConfigurationError: a cluster master beyond this machine and no secret to guard it.
    """
    master = settings.spark_master
    if master.startswith("local"):
        return {}
    secret = settings.spark_auth_secret
    if secret is None:
        host = master.split("://", 1)[-1].split(":")[0]
        if master.startswith("spark://") and host in ("127.0.0.1", "localhost"):
            return {}  # the stack's own loopback cluster: nothing beyond this machine
        raise ConfigurationError(
            f"Spark master {master} is a cluster: set PAYSTREAM_LAKEHOUSE__SPARK_AUTH_SECRET "
            "(the secret its daemons share) so its RPC is authenticated and encrypted"
        )
    return {
        "spark.authenticate": "true",
        "spark.authenticate.secret": secret.get_secret_value(),
        "spark.network.crypto.enabled": "true",
    }


def _start_quiet_jvm(options: Mapping[str, str], log: Path) -> None:
    """Start this process's driver JVM with its console output appended to ``log``.

    PySpark inherits the terminal for the JVM it launches; its ``launch_gateway`` takes
    ``Popen`` arguments for exactly this, and a context made on that gateway is the one
    ``getOrCreate`` then picks up. Nothing happens when the process has a JVM already (a
    second session, or ``spark-submit``'s own gateway) or when the log cannot be written.

    Raises:
        ConfigurationError: the JVM did not start, naming the log that says why.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    conf = SparkConf().setAll(list(options.items()))
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        sink = log.open("ab")
    except OSError:
        return  # an unwritable log must not stop the job: the terminal gets the output
    with sink:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sink.write(f"--- {stamp} {options['spark.app.name']} (pid {os.getpid()})\n".encode())
        sink.flush()
        try:
            gateway = launch_gateway(  # type: ignore[no-untyped-call]  # pyspark leaves it bare
                conf, popen_kwargs={"stdout": sink, "stderr": sink}
            )
        except Exception as exc:  # PySpark says only that the gateway exited
            raise ConfigurationError(
                f"Spark's JVM did not start ({exc}); its output is in {log}"
            ) from exc
    SparkContext(conf=conf, gateway=gateway)


def build_spark(
    settings: LakehouseSettings,
    app_name: str = "paystream",
    extra: Mapping[str, str] | None = None,
) -> SparkSession:
    """Create (or reuse) the process's Spark session with Delta enabled.

    ``extra`` adds or overrides configuration (the SQL endpoint's jar and extension). The
    JVM's console output goes to :func:`spark_log_path` unless :func:`show_jvm_output` was
    called.
    """
    from pyspark.sql import SparkSession

    if settings.spark_master == DATABRICKS:
        # Databricks owns the session's configuration (Delta, connectors, time zone).
        return SparkSession.builder.appName(app_name).getOrCreate()
    # Python workers (contract validation) must run this interpreter, which has paystream;
    # Spark's default is whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        # Read by the JVM at start for the addresses Spark picks itself (its UI, if enabled).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    options = _options(settings, app_name) | dict(extra or {})
    if not _show_jvm_output:
        _start_quiet_jvm(options, spark_log_path())
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Spark's warnings are for whoever asked to see the JVM; the rest see errors only.
    spark.sparkContext.setLogLevel("WARN" if _show_jvm_output else "ERROR")
    return spark
