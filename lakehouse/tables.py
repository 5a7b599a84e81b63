"""Delta table IO shared by the jobs: existence, idempotent MERGE upserts, overwrites.

Every write is either a MERGE keyed by the table's business key or a full overwrite computed
from its inputs, so running any job twice leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def exists(spark: SparkSession, path: str) -> bool:
    """True when ``path`` holds a Delta table."""
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def merge_upsert(
    spark: SparkSession,
    frame: DataFrame,
    path: str,
    keys: Sequence[str],
    *,
    update: bool = True,
    partition_by: Sequence[str] = (),
    newer_than: str | None = None,
    delete_missing: str | None = None,
) -> dict[str, int]:
    """Upsert ``frame`` into the Delta table at ``path`` by ``keys``; create it if missing.

    Returns the MERGE's row counts (``num_inserted_rows``, ``num_updated_rows``, ...; empty
    when the table was created).

    ``update=False`` keeps the first write of a key (events: an event id is immutable).
    ``newer_than`` names a column that must not go backwards: a matched row is replaced only
    when the incoming value is newer than the stored one, so a re-read of an unchanged row
    rewrites nothing and an older one never wins.
    ``delete_missing`` is a condition on the target (alias ``t``): rows it holds that
    ``frame`` has no key for are deleted, so a recomputed slice replaces the old one whole.
    New columns in ``frame`` are added to the table (schema evolution).
    """
    from delta.tables import DeltaTable

    frame = frame.dropDuplicates(list(keys))
    if not exists(spark, path):
        writer = frame.write.format("delta").mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        return {}
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(frame.alias("s"), condition)
        .withSchemaEvolution()
    )
    if update:
        when = f"s.`{newer_than}` > t.`{newer_than}`" if newer_than else None
        merge = merge.whenMatchedUpdateAll(condition=when)
    merge = merge.whenNotMatchedInsertAll()
    if delete_missing is not None:
        merge = merge.whenNotMatchedBySourceDelete(condition=delete_missing)
    # Delta returns the MERGE's row counts as a one-row frame (already computed: no job).
    metrics = merge.execute()
    row = metrics.first() if metrics is not None else None
    return {k: int(v) for k, v in row.asDict().items()} if row is not None else {}


def overwrite(
    frame: DataFrame, path: str, *, partition_by: Sequence[str] = (), replace_schema: bool = True
) -> None:
    """Replace the table at ``path`` with ``frame`` (one new version; older ones stay readable
    through time travel until VACUUM)."""
    writer = frame.write.format("delta").mode("overwrite")
    if replace_schema:
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def count(spark: SparkSession, path: str) -> int:
    """Rows in the table at ``path`` (0 when it does not exist)."""
    if not exists(spark, path):
        return 0
    return int(spark.read.format("delta").load(path).count())
