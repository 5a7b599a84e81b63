"""A labelled history from a file, its offline features, without touching live state.

``paystream features build --history FILE`` (and ``paystream backtest fraud --history FILE``,
which runs it) reads the file with the import's column mapping, lands its good rows in the
lakehouse under their own namespace (``<root>/history/<namespace>/transactions``), with every
routed row and its reason beside them (``.../routed``), and computes the offline features
(``.../fraud_features``). The ledger, Redis and the graph are never written: a backtest of a
risk team's history cannot disturb the platform it runs beside.

The file is streamed in chunks, never loaded whole. A mapping that names a missing column
stops before anything is written, in one line; a row that cannot be a payment (bad amount,
time, currency or id, or a card number in a field the live stream would refuse) is routed
with its reason, and so is a second row with an id already seen
(``duplicate_transaction_id``): the summary counts them all.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.features.inputs import DAY_MS, HistoryTiming, feature_inputs
from lakehouse.features.offline import apply_transform
from paystream.contracts.history import HistoryPaths
from paystream.datasets.transactions import (
    BadRow,
    ColumnMapping,
    RowReader,
    Transaction,
    file_rows,
    read_transactions,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from paystream.settings import Settings

#: Rows per landed chunk: a few MB of Arrow, whatever the file's size.
CHUNK_ROWS = 100_000
DUPLICATE = "duplicate_transaction_id"


@dataclass
class HistorySummary:
    """Every row accounted for, and where the time went."""

    rows: int = 0
    transactions: int = 0
    fraud: int = 0
    routed: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        """Every row read is a transaction or routed with a reason."""
        return self.rows == self.transactions + sum(self.routed.values())


def _chunks(
    items: Iterator[Transaction | BadRow],
) -> Iterator[tuple[list[Transaction], list[BadRow]]]:
    good: list[Transaction] = []
    bad: list[BadRow] = []
    for item in items:
        (bad if isinstance(item, BadRow) else good).append(item)  # type: ignore[arg-type]
        if len(good) + len(bad) >= CHUNK_ROWS:
            yield good, bad
            good, bad = [], []
    yield good, bad


def _arrow(good: list[Transaction]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "row": pa.array([t.row for t in good], pa.int64()),
            "payment_id": [t.transaction_id for t in good],
            "at_ms": pa.array([int(t.at.timestamp() * 1000) for t in good], pa.int64()),
            "customer_id": [t.customer_id for t in good],
            "merchant_id": [t.merchant_id for t in good],
            "amount_minor": pa.array([t.amount_minor for t in good], pa.int64()),
            "currency": [t.currency for t in good],
            "card": pa.array([t.card_fingerprint for t in good], pa.string()),
            "device": pa.array([t.device_id for t in good], pa.string()),
            "country": pa.array([t.country for t in good], pa.string()),
            "fraud": pa.array([t.fraud for t in good], pa.bool_()),
        }
    )


def _routed(bad: list[BadRow]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "row": pa.array([b.row for b in bad], pa.int64()),
            "reason": pa.array([b.reason for b in bad], pa.string()),
            "detail": pa.array([b.detail[:300] for b in bad], pa.string()),
        }
    )


def refuse_card_numbers(
    items: Iterator[Transaction | BadRow],
) -> Iterator[Transaction | BadRow]:
    """Rows with something shaped like a card number in any field, routed (``card_number``).

    The live stream refuses such a record (it dead-letters it, masked), so the lakehouse
    never stores one either, and the offline features cover exactly the payments the agent
    decides. The detail names the field, never the value.
    """
    from paystream.contracts.pan import contains_pan

    for item in items:
        if isinstance(item, Transaction):
            fields = {
                "transaction id": item.transaction_id,
                "customer": item.customer_id,
                "merchant": item.merchant_id,
                "device": item.device_id or "",
                "country": item.country or "",
            }
            found = next((name for name, value in fields.items() if contains_pan(value)), None)
            if found is not None:
                detail = f"the {found} holds something shaped like a card number"
                yield BadRow(item.row, "card_number", detail, b"")
                continue
        yield item


def land(
    path: Path,
    mapping: ColumnMapping,
    card_key: bytes,
    paths: HistoryPaths,
    on_rows: Callable[[int], None] | None = None,
) -> HistorySummary:
    """Stream ``path`` into the history's transactions and routed tables (replacing them)."""
    from deltalake import write_deltalake

    if "://" not in paths.root:
        shutil.rmtree(paths.root, ignore_errors=True)
    summary = HistorySummary()
    rows = refuse_card_numbers(
        read_transactions(file_rows(path, mapping), RowReader(mapping, card_key))
    )
    mode: dict[str, Any] = {"transactions": "overwrite", "routed": "overwrite"}
    for good, bad in _chunks(rows):
        summary.rows += len(good) + len(bad)
        summary.routed.update(b.reason for b in bad)
        write_deltalake(paths.transactions, _arrow(good), mode=mode["transactions"])
        write_deltalake(paths.routed, _routed(bad), mode=mode["routed"])
        mode = {"transactions": "append", "routed": "append"}
        if on_rows is not None:
            on_rows(summary.rows)
    return summary


def build_features(
    spark: SparkSession,
    paths: HistoryPaths,
    summary: HistorySummary,
    timing: HistoryTiming,
    merchant_category: str,
) -> None:
    """Drop duplicate ids (routed, the first row kept), then compute and write the features."""
    from pyspark.sql import Window
    from pyspark.sql import functions as fn

    landed = spark.read.format("delta").load(paths.transactions).cache()
    repeated = landed.groupBy("payment_id").count().where("count > 1")
    transactions, cached = landed, landed
    # Most histories have no repeated id: finding that out is one aggregate of the ids, and
    # only a history with repeats pays for ranking every row.
    if not repeated.isEmpty():
        ranked = landed.withColumn(
            "copy", fn.row_number().over(Window.partitionBy("payment_id").orderBy("row"))
        ).cache()
        copies = ranked.where("copy > 1")
        summary.routed[DUPLICATE] += copies.count()
        # Routed beside the rows the reader refused; the first row of the id is the payment.
        copies.select(
            "row",
            fn.lit(DUPLICATE).alias("reason"),
            fn.concat(fn.lit("transaction id "), "payment_id", fn.lit(" seen before")).alias(
                "detail"
            ),
        ).write.format("delta").mode("append").save(paths.routed)
        transactions = ranked.where("copy = 1").drop("copy")
        landed.unpersist()
        cached = ranked
    features = apply_transform(feature_inputs(transactions, timing), merchant_category)
    (
        features.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy("day")
        .save(paths.features)
    )
    written = spark.read.format("delta").load(paths.features)
    totals = written.agg(fn.count(fn.lit(1)), fn.sum("label")).first()
    assert totals is not None
    summary.transactions, summary.fraud = int(totals[0]), int(totals[1] or 0)
    cached.unpersist()


def timed(summary: HistorySummary, step: str, start: float) -> None:
    """Record the seconds ``step`` took since ``start`` (``time.monotonic``)."""
    summary.seconds[step] = time.monotonic() - start


def mapping_for(path: Path, mapping: Path | None, overrides: dict[str, Any]) -> ColumnMapping:
    """The column mapping of ``path``: ``mapping``, else ``FILE.mapping.yaml`` beside it (what
    ``paystream simulate --foreign-csv`` writes), with ``overrides`` on top.

    Raises:
        ConfigurationError: no usable mapping, or ``path`` does not exist, in one line.
    """
    from paystream.datasets.transactions import load_mapping
    from paystream.errors import ConfigurationError

    if not path.is_file():
        raise ConfigurationError(f"history file {path} does not exist")
    if mapping is None:
        beside = path.with_name(path.name.removesuffix(".gz") + ".mapping.yaml")
        mapping = beside if beside.is_file() else None
    return load_mapping(mapping, overrides)


def build_history(
    settings: Settings,
    path: Path,
    mapping: ColumnMapping,
    *,
    namespace: str,
    chargeback_delay_days: float = 7.0,
    on_step: Callable[[str], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[HistorySummary, HistoryPaths]:
    """Land ``path`` and compute its offline features; nothing live is written.

    Raises:
        ConfigurationError: the card key is missing (card ids are fingerprinted on reading),
            or the mapping names a column the file lacks.
    """
    from paystream.stores.spark import build_spark

    step = on_step or (lambda _: None)
    paths = HistoryPaths.of(settings.lakehouse.root, namespace)
    card_key = settings.risk.require_card_key()
    timing = HistoryTiming(
        label_delay_ms=round(settings.risk.label_delay_days * DAY_MS),
        chargeback_delay_ms=round(chargeback_delay_days * DAY_MS),
    )
    start = time.monotonic()
    step("reading the history into the lakehouse")
    summary = land(path, mapping, card_key, paths, on_rows)
    timed(summary, "land", start)
    start = time.monotonic()
    step("starting Spark")
    spark = build_spark(settings.lakehouse, "paystream-history")
    timed(summary, "spark", start)
    start = time.monotonic()
    step("computing point-in-time features")
    build_features(spark, paths, summary, timing, mapping.merchant_category)
    timed(summary, "features", start)
    return summary, paths
