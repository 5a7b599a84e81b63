"""Bronze ingestion: Kafka (or Event Hubs' Kafka endpoint) → Delta ``bronze/events``.

A Structured Streaming query reads every domain topic and appends the records (key, value
bytes, topic, partition, offset, Kafka timestamp) with the ingest time and an ``ingest_date``
partition column. A value is stored as the contract re-serializes it: fields no contract
knows are dropped, and a record holding a card number keeps only a masked copy. The query's
checkpoint records the offsets it has committed to Delta, and Delta's streaming sink commits
each micro-batch exactly once, so a re-run (or a crash and restart) lands every Kafka record
exactly once.

The dead-letter topic is left out on purpose: its records are not events but envelopes
around rejected bytes, already inspectable with ``paystream dlq``, and bronze should hold
what the silver parser can be asked to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paystream.contracts import TOPICS
from paystream.settings import KafkaSettings

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.paths import LakePaths

BRONZE_TABLE = "events"
CHECKPOINT = "bronze_events"
# Bounded micro-batches keep memory flat on a 2-core machine during a full replay.
MAX_OFFSETS_PER_TRIGGER = 200_000


def bronze_topics(settings: KafkaSettings) -> list[str]:
    """The topics bronze subscribes to: every domain topic, without the dead-letter topic."""
    return [settings.topic(name) for name in TOPICS]


def kafka_options(settings: KafkaSettings, *, shaded: bool = False) -> dict[str, str]:
    """Spark Kafka source options from paystream settings.

    For Event Hubs the Kafka endpoint takes SASL PLAIN with the literal user
    ``$ConnectionString`` and the namespace connection string as password. ``shaded`` is for
    Databricks, whose runtime relocates the Kafka client under ``kafkashaded.``.
    """
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "kafka.request.timeout.ms": str(settings.request_timeout_ms),
        "kafka.metadata.max.age.ms": str(settings.metadata_max_age_ms),
        "kafka.connections.max.idle.ms": str(settings.connections_max_idle_ms),
    }
    if settings.profile == "eventhubs":
        assert settings.connection_string is not None  # enforced by the settings validator
        secret = settings.connection_string.get_secret_value().replace('"', '\\"')
        options.update(
            {
                "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": "PLAIN",
                "kafka.sasl.jaas.config": f"{'kafkashaded.' if shaded else ''}"
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                f' required username="$ConnectionString" password="{secret}";',
            }
        )
    return options


@dataclass(frozen=True)
class BronzeResult:
    """What one bronze run landed."""

    rows_added: int
    rows_total: int


def raw_stream(spark: SparkSession, settings: KafkaSettings, shaded: bool = False) -> DataFrame:
    """The Kafka records of every bronze topic as a streaming frame in bronze's shape."""
    from pyspark.sql import functions as fn

    reader = spark.readStream.format("kafka")
    for key, value in kafka_options(settings, shaded=shaded).items():
        reader = reader.option(key, value)
    frame = (
        reader.option("subscribe", ",".join(bronze_topics(settings)))
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", MAX_OFFSETS_PER_TRIGGER)
        # A topic deleted and re-created (tests, retention) must stop the job, not skip data.
        .option("failOnDataLoss", "true")
        .load()
        # One task per topic partition (8 topics x 6 partitions) would write as many small
        # files per micro-batch, which every later read then opens: one task per core
        # reads them in turn instead, and writes one file each.
        .coalesce(spark.sparkContext.defaultParallelism)
    )
    now = fn.current_timestamp()
    return _storable_values(
        frame.select(
            fn.col("key").cast("string").alias("key"),
            fn.col("value"),
            fn.col("topic"),
            fn.col("partition"),
            fn.col("offset"),
            fn.col("timestamp").alias("kafka_timestamp"),
            now.alias("ingested_at"),
            fn.to_date(now).alias("ingest_date"),
        )
    )


_BRONZE_DDL = (
    "key string, value binary, topic string, partition int, offset long, "
    "kafka_timestamp timestamp, ingested_at timestamp, ingest_date date"
)


def _storable_rows(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    # Runs in Spark's Python workers: import there, not at module import.
    from paystream.contracts.storable import storable

    for frame in frames:
        frame["value"] = [None if v is None else storable(bytes(v)) for v in frame["value"]]
        yield frame


def _storable_values(frame: DataFrame) -> DataFrame:
    """Bronze keeps no card number and no field the contracts do not know
    (:func:`paystream.contracts.storable.storable`); its other columns are Kafka's own."""
    return frame.mapInPandas(_storable_rows, _BRONZE_DDL)  # type: ignore[arg-type]


def ingest(
    spark: SparkSession,
    settings: KafkaSettings,
    paths: LakePaths,
    *,
    continuous: bool = False,
    interval_s: int = 10,
    shaded: bool = False,
) -> BronzeResult:
    """Land new Kafka records in ``bronze/events``.

    By default the query runs with the ``availableNow`` trigger: it reads what the topics
    hold now, commits, and stops. ``continuous=True`` keeps it running with a
    processing-time trigger until interrupted.
    """
    from lakehouse.tables import count

    path = paths.table("bronze", BRONZE_TABLE)
    before = count(spark, path)
    writer = (
        raw_stream(spark, settings, shaded)
        .writeStream.format("delta")
        .outputMode("append")
        .partitionBy("ingest_date")
        .option("checkpointLocation", paths.checkpoint(CHECKPOINT))
    )
    if continuous:
        query = writer.trigger(processingTime=f"{interval_s} seconds").start(path)
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
    else:
        writer.trigger(availableNow=True).start(path).awaitTermination()
    after = count(spark, path)
    return BronzeResult(after - before, after)
