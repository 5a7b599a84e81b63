"""Silver events: bronze records validated against the contracts, typed, deduplicated.

A streaming query reads ``bronze/events`` incrementally (its own checkpoint) and hands each
micro-batch to :func:`process_batch`, which

1. validates every record with :func:`paystream.contracts.parse_event`, exactly the check the
   stream workers apply, so a record is valid here iff it is valid there;
2. sends the invalid ones to ``silver/events_quarantine`` with the contract's reason code
   (keyed by topic, partition and offset: a re-run adds nothing);
3. parses the valid ones per logical topic with the contract-derived Spark schema into
   ``silver/events_<topic>`` (``events_payments``, ``events_orders``, ...), MERGEd on
   ``event_id`` with insert-only semantics, so duplicates and re-runs change nothing.

A field the contract does not know is dropped: bronze already stores events as the contract
re-serializes them (:func:`paystream.contracts.storable.storable`), and silver parses only
the contract's own fields, so an extra ``"pan"`` can never become a column. A field becomes a
column when the contract that defines it ships. A record bronze refused for a card number is
quarantined with the reason ``card_number``, as the stream dead-letters it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakehouse.silver.schemas import topic_schema

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.paths import LakePaths

CHECKPOINT = "silver_events"
QUARANTINE = "events_quarantine"
SOURCE_COLUMNS = ("_topic", "_partition", "_offset", "_kafka_timestamp", "_ingested_at")
_VALIDATED_DDL = (
    "topic string, partition int, offset long, key string, value string, "
    "kafka_timestamp timestamp, ingested_at timestamp, ok boolean, logical_topic string, "
    "event_type string, reason string, message string"
)


def event_table(topic: str) -> str:
    """Silver table name of the events of logical topic ``topic``."""
    return f"events_{topic}"


def _validate_rows(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    # Runs in Spark's Python workers: import there, not at module import.
    from paystream.contracts import ContractError
    from paystream.contracts.pan import mask_pans
    from paystream.contracts.storable import parse_record

    for frame in frames:
        ok: list[bool] = []
        texts: list[str] = []
        topics: list[str | None] = []
        types: list[str | None] = []
        reasons: list[str | None] = []
        messages: list[str | None] = []
        for raw in frame["value"]:
            data = bytes(raw) if raw is not None else b""
            texts.append(mask_pans(data.decode("utf-8", errors="replace")))
            try:
                event = parse_record(data)
            except ContractError as exc:
                ok.append(False)
                topics.append(None)
                types.append(None)
                reasons.append(exc.reason)
                messages.append(str(exc)[:500])
                continue
            ok.append(True)
            topics.append(type(event).topic)
            types.append(event.event_type)
            reasons.append(None)
            messages.append(None)
        out = frame.drop(columns=["value"]).assign(
            value=texts,
            ok=ok,
            logical_topic=topics,
            event_type=types,
            reason=reasons,
            message=messages,
        )
        yield out


def validate(frame: DataFrame) -> DataFrame:
    """Bronze rows with the contract's verdict: ``ok``, ``reason``, ``logical_topic``, ..."""
    columns = ["topic", "partition", "offset", "key", "value", "kafka_timestamp", "ingested_at"]
    return frame.select(*columns).mapInPandas(_validate_rows, _VALIDATED_DDL)  # type: ignore[arg-type]


@dataclass
class BatchStats:
    """Counts over every micro-batch of one silver run."""

    batches: int = 0
    valid: int = 0
    quarantined: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def process_batch(
    spark: SparkSession, batch: DataFrame, paths: LakePaths, stats: BatchStats
) -> None:
    """Validate, quarantine, type and MERGE one micro-batch of bronze rows."""
    from pyspark.sql import functions as fn

    from lakehouse.tables import merge_upsert

    checked = validate(batch).persist()
    try:
        verdicts = checked.groupBy("ok", "logical_topic").count().collect()
        stats.batches += 1
        bad = sum(int(r["count"]) for r in verdicts if not r["ok"])
        if bad:
            quarantine = checked.where(~fn.col("ok")).select(
                "topic",
                "partition",
                "offset",
                "key",
                "value",
                "kafka_timestamp",
                "ingested_at",
                "reason",
                "message",
                fn.current_timestamp().alias("quarantined_at"),
            )
            path = paths.table("silver", QUARANTINE)
            merge_upsert(spark, quarantine, path, ("topic", "partition", "offset"), update=False)
            stats.quarantined += bad
        valid = checked.where(fn.col("ok"))
        for row in sorted((r for r in verdicts if r["ok"]), key=lambda r: r["logical_topic"]):
            topic = row["logical_topic"]
            target = paths.table("silver", event_table(topic))
            parsed = valid.where(fn.col("logical_topic") == topic).select(
                # The contract's fields only: anything else in the JSON is not read.
                fn.from_json("value", topic_schema(topic)).alias("e"),
                fn.col("topic").alias("_topic"),
                fn.col("partition").alias("_partition"),
                fn.col("offset").alias("_offset"),
                fn.col("kafka_timestamp").alias("_kafka_timestamp"),
                fn.col("ingested_at").alias("_ingested_at"),
            )
            typed = parsed.select("e.*", *SOURCE_COLUMNS)
            merge_upsert(spark, typed, target, ("event_id",), update=False)
            stats.valid += int(row["count"])
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + int(row["count"])
    finally:
        checked.unpersist()


def refine(spark: SparkSession, paths: LakePaths, *, full: bool = False) -> BatchStats:
    """Process the bronze rows added since the last run (all of bronze with ``full``)."""
    from lakehouse.bronze.kafka import BRONZE_TABLE
    from lakehouse.tables import exists

    stats = BatchStats()
    source = paths.table("bronze", BRONZE_TABLE)
    if not exists(spark, source):
        return stats
    checkpoint = paths.checkpoint(CHECKPOINT)
    if full:
        _remove(spark, checkpoint)

    def handle(batch: DataFrame, _batch_id: int) -> None:
        process_batch(spark, batch, paths, stats)

    query = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", 200)
        .load(source)
        .writeStream.foreachBatch(handle)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return stats


def _remove(spark: SparkSession, location: str) -> None:
    """Delete a checkpoint through Hadoop's filesystem, so URIs work as well as paths."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(location)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(hadoop_path):
        fs.delete(hadoop_path, True)
