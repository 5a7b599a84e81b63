"""Silver ledger tables: incremental pulls from the MySQL READ REPLICA over JDBC.

Each table is read by a watermark: a column that grows whenever a row is written. The
ledger's ``payments.updated_at`` is the write time; immutable rows (refunds, orders, order
lines, customers, merchants) take the ``processed_at`` of the event that wrote them from
``processed_events``. A run reads rows above the stored high watermark *minus a look-back*
(``LOOKBACK``, two minutes, far above a batch transaction's length): a transaction stamps
its time before it commits, so a row may become visible on the replica after a later-stamped
one. Re-reading the overlap is harmless because every pull is a MERGE on the table's primary
key (a stored row is replaced only by a newer one). High watermarks live in the Delta table
``silver/_watermarks``, written after the MERGEs: a crash in between re-reads rows, it never
skips any.

The rows a look-back re-reads are dropped before the MERGE when silver already holds them at
the same watermark, so the overlap costs a scan of the keys, not a rewrite. Every row
written carries ``_pulled_at``, the time of the pull that wrote it: incremental gold
(``lakehouse.gold.incremental``) finds what changed since its last build by it, with no
look-back of its own.

``bookings`` and ``sessions`` have no write-time column (their ``updated_at`` is event time),
so they are not pulled here; ``silver/events_bookings`` and ``events_sessions`` hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from paystream.settings import MySQLSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.paths import LakePaths

WATERMARKS = "_watermarks"
LOOKBACK = timedelta(minutes=2)
WM = "_wm"
PULLED = "_pulled_at"


@dataclass(frozen=True)
class LedgerTable:
    """One replica table: its key, its watermark expression and the query that reads it."""

    name: str
    keys: tuple[str, ...]
    select: str  # a SELECT with an ``_wm`` column and no WHERE clause
    watermark: str  # the SQL expression behind ``_wm``, used in the WHERE clause

    def query(self, since: datetime | None) -> str:
        """The SQL that reads rows with a watermark above ``since`` (all rows if None)."""
        if since is None:
            return self.select
        # The timestamp is formatted by us, never user text, so inlining it is safe.
        return f"{self.select} WHERE {self.watermark} > '{since:%Y-%m-%d %H:%M:%S.%f}'"


def _by_event(table: str, alias: str, keys: tuple[str, ...], via: str = "") -> LedgerTable:
    """An immutable table watermarked by the ``processed_at`` of the event that wrote it."""
    # Built from this module's constants only; S608 cannot see that.
    select = (
        f"SELECT {alias}.*, e.processed_at AS _wm FROM {table} {alias} "  # noqa: S608
        f"{via}JOIN processed_events e ON e.event_id = {'o' if via else alias}.event_id"
    )
    return LedgerTable(table, keys, select, "e.processed_at")


LEDGER_TABLES: tuple[LedgerTable, ...] = (
    LedgerTable(
        "payments",
        ("payment_id",),
        "SELECT p.*, p.updated_at AS _wm FROM payments p",
        "p.updated_at",
    ),
    _by_event("refunds", "r", ("refund_id",)),
    _by_event("orders", "o", ("order_id",)),
    _by_event(
        "order_lines", "l", ("order_id", "line_no"), "JOIN orders o ON o.order_id = l.order_id "
    ),
    _by_event("customers", "c", ("customer_id",)),
    _by_event("merchants", "m", ("merchant_id",)),
    # Decisions may come from a sink that does not record processed_events: fall back to
    # the decision time, which the look-back covers for decisions written promptly.
    LedgerTable(
        "risk_decisions",
        ("payment_id",),
        "SELECT d.*, COALESCE(e.processed_at, d.decided_at) AS _wm FROM risk_decisions d "
        "LEFT JOIN processed_events e ON e.event_id = d.event_id",
        "COALESCE(e.processed_at, d.decided_at)",
    ),
)
TABLES_BY_NAME = {t.name: t for t in LEDGER_TABLES}
#: Tables a ledger migrated before they existed may lack; silver then holds them empty.
OPTIONAL_TABLES: dict[str, str] = {
    "risk_decisions": (
        "payment_id string, event_id string, customer_id string, merchant_id string, "
        "card_fingerprint string, amount_minor long, currency string, decision string, "
        "score double, rules_score double, reasons string, model_version string, "
        "degraded boolean, features string, authorized_at timestamp, decided_at timestamp, "
        "_wm timestamp, _pulled_at timestamp"
    )
}


def replica_tables(mysql: MySQLSettings) -> set[str]:
    """Tables present in the replica's ledger database."""
    from sqlalchemy import inspect

    from paystream.stores.mysql import Database

    database = Database(mysql)
    try:
        Database.identity(database.reader)
        return set(inspect(database.reader).get_table_names())
    finally:
        database.dispose()


def _flag(value: object) -> bool | None:
    text = str(value[0] if isinstance(value, tuple) else value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)


def jdbc_tls(query: dict[str, object]) -> str:
    """Connector/J's TLS options for the TLS the PyMySQL URL asks for.

    The URL's ``ssl_*`` parameters (``ssl_ca``, ``ssl_verify_cert``, ``ssl_verify_identity``,
    ``ssl_disabled``) are PyMySQL's; the JDBC pull must honour them rather than send the
    replica's credentials in clear text, which Azure Database for MySQL refuses anyway. Any
    of them turns TLS on with the certificate and host name verified against the JVM's trust
    store (a private CA goes there); ``ssl_verify_cert=false`` keeps encryption without
    verification. A URL without them (the local stack) connects without TLS.
    """
    keys = {k.lower(): v for k, v in query.items()}
    if _flag(keys.get("ssl_disabled")) or not any(k.startswith("ssl") for k in keys):
        # MySQL 8's caching_sha2_password needs the server's key without TLS.
        return "sslMode=DISABLED&allowPublicKeyRetrieval=true"
    if _flag(keys.get("ssl_verify_cert")) is False:
        return "sslMode=REQUIRED"
    return "sslMode=VERIFY_IDENTITY"


def jdbc_options(mysql: MySQLSettings) -> dict[str, str]:
    """Spark JDBC options for the READ REPLICA (readers never touch the primary)."""
    url = make_url(mysql.replica_url.get_secret_value())
    host = url.host or "127.0.0.1"
    port = url.port or 3306
    return {
        "url": (
            f"jdbc:mysql://{host}:{port}/{url.database}"
            "?connectionTimeZone=UTC&forceConnectionTimeZoneToSession=true"
            f"&zeroDateTimeBehavior=CONVERT_TO_NULL&{jdbc_tls(dict(url.query))}"
        ),
        "user": url.username or "",
        "password": url.password or "",
        "driver": "com.mysql.cj.jdbc.Driver",
        "fetchsize": "10000",
    }


def replica_address(mysql: MySQLSettings) -> str:
    """``host:port`` of the replica, for error messages."""
    url = make_url(mysql.replica_url.get_secret_value())
    return f"{url.host}:{url.port}"


def read_watermarks(spark: SparkSession, paths: LakePaths) -> dict[str, datetime]:
    """Stored high watermark of every pulled table."""
    from lakehouse.tables import exists

    path = paths.table("silver", WATERMARKS)
    if not exists(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).collect()
    return {r["table"]: r["high_watermark"] for r in rows if r["high_watermark"] is not None}


def _save_watermarks(spark: SparkSession, paths: LakePaths, marks: dict[str, datetime]) -> None:
    from pyspark.sql import functions as fn

    from lakehouse.tables import merge_upsert

    if not marks:
        return
    frame = spark.createDataFrame(
        [(name, value) for name, value in sorted(marks.items())],
        "table string, high_watermark timestamp",
    ).withColumn("updated_at", fn.current_timestamp())
    merge_upsert(spark, frame, paths.table("silver", WATERMARKS), ("table",))


@dataclass(frozen=True)
class PullResult:
    """What one table's pull did."""

    table: str
    rows_read: int
    since: datetime | None


def read_table(spark: SparkSession, mysql: MySQLSettings, query: str) -> DataFrame:
    """Run ``query`` on the replica through JDBC."""
    reader = spark.read.format("jdbc")
    for key, value in jdbc_options(mysql).items():
        reader = reader.option(key, value)
    return reader.option("query", query).load()


def _not_stored(
    spark: SparkSession, frame: DataFrame, path: str, keys: tuple[str, ...]
) -> DataFrame:
    """The rows of ``frame`` silver lacks (``_stored`` null) or holds at an older watermark
    (``_stored``: the stored one)."""
    from pyspark.sql import functions as fn

    stored = spark.read.format("delta").load(path).select(*keys, fn.col(WM).alias("_stored"))
    joined = frame.join(stored, list(keys), "left")
    return joined.where(fn.col("_stored").isNull() | (fn.col(WM) > fn.col("_stored")))


def _write_fresh(spark: SparkSession, fresh: DataFrame, path: str, keys: tuple[str, ...]) -> None:
    """Append the rows silver lacks and MERGE the newer versions of rows it holds.

    The anti-join just before proved the appended keys absent, and builds do not run
    concurrently, so an append keeps one row per key; it skips the MERGE's scan and rewrite
    of the target, which immutable tables (order lines, refunds, ...) would pay every time.
    A crash after the append re-reads those rows, finds them stored and appends nothing.
    """
    from pyspark.sql import functions as fn

    from lakehouse.tables import merge_upsert

    stamped = fresh.withColumn(PULLED, fn.current_timestamp())
    new = stamped.where(fn.col("_stored").isNull()).drop("_stored").dropDuplicates(list(keys))
    new.write.format("delta").mode("append").option("mergeSchema", "true").save(path)
    changed = stamped.where(fn.col("_stored").isNotNull()).drop("_stored")
    if not changed.isEmpty():
        merge_upsert(spark, changed, path, keys, newer_than=WM)


def pull(
    spark: SparkSession,
    mysql: MySQLSettings,
    paths: LakePaths,
    *,
    full: bool = False,
    tables: tuple[LedgerTable, ...] = LEDGER_TABLES,
    lookback: timedelta = LOOKBACK,
) -> list[PullResult]:
    """Pull every ledger table incrementally (``full``: read everything and overwrite).

    Tables are independent, so they are pulled by a few threads at once: Spark interleaves
    their jobs (FAIR scheduling), and one table's driver-side work (JDBC, Delta's log)
    overlaps another's tasks.
    """
    from concurrent.futures import ThreadPoolExecutor

    marks = {} if full else read_watermarks(spark, paths)
    present = replica_tables(mysql)

    def one(table: LedgerTable) -> tuple[PullResult, datetime | None]:
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", table.name)
        return _pull_table(
            spark, mysql, paths, table, full, marks.get(table.name), present, lookback
        )

    with ThreadPoolExecutor(max_workers=PULL_THREADS, thread_name_prefix="pull") as pool:
        done = list(pool.map(one, tables))
    _save_watermarks(spark, paths, {r.table: high for r, high in done if high is not None})
    return [result for result, _ in done]


#: Tables pulled at once (two cores: more threads only queue).
PULL_THREADS = 3


def _pull_table(
    spark: SparkSession,
    mysql: MySQLSettings,
    paths: LakePaths,
    table: LedgerTable,
    full: bool,
    high: datetime | None,
    present: set[str],
    lookback: timedelta,
) -> tuple[PullResult, datetime | None]:
    """Pull one table; its result and its new high watermark (None: unchanged)."""
    from pyspark.sql import functions as fn

    from lakehouse.tables import exists, merge_upsert, overwrite

    path = paths.table("silver", table.name)
    if table.name not in present and table.name in OPTIONAL_TABLES:
        if full or not exists(spark, path):
            overwrite(spark.createDataFrame([], OPTIONAL_TABLES[table.name]), path)
        return PullResult(table.name, 0, None), None
    since = high - lookback if high is not None else None
    frame = read_table(spark, mysql, table.query(since)).persist()
    new_high = None
    try:
        summary = frame.agg(fn.count(fn.lit(1)).alias("n"), fn.max(WM).alias("high")).first()
        assert summary is not None
        rows = int(summary["n"])
        stamped = frame.withColumn(PULLED, fn.current_timestamp())
        if full:
            overwrite(stamped, path)
        elif not exists(spark, path):
            # An empty table is still created: gold reads it (risk_decisions may be empty).
            merge_upsert(spark, stamped, path, table.keys, newer_than=WM)
        elif rows:
            fresh = _not_stored(spark, frame, path, table.keys).persist()
            try:
                if not fresh.isEmpty():
                    _write_fresh(spark, fresh, path, table.keys)
            finally:
                fresh.unpersist()
        if summary["high"] is not None:
            new_high = max(summary["high"], high) if high else summary["high"]
    finally:
        frame.unpersist()
    return PullResult(table.name, rows, since), new_high
