"""The Spark session factory.

Delta and the JDBC/Kafka connectors come from jars fetched by ``paystream stack up`` into
``.cache/jars/spark`` and handed to Spark through ``spark.jars``, so Spark never resolves
packages through Ivy (which cannot reach Maven Central from a closed network). A cluster
master URL is chosen by settings alone (``PAYSTREAM_LAKEHOUSE__SPARK_MASTER``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paystream.errors import ConfigurationError
from paystream.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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


def build_spark(settings: LakehouseSettings, app_name: str = "paystream") -> SparkSession:
    """Create (or reuse) the process's Spark session with Delta enabled."""
    from pyspark.sql import SparkSession

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
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(settings.root / "_warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={settings.root / '_derby'}")
    )
    return builder.getOrCreate()
