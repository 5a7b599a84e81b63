"""Analyst SQL over the lakehouse through delta-rs and DataFusion: no JVM, no Spark.

Every gold and silver table is registered by its bare name (``merchant_statements``,
``payments``, ``events_payments``); bronze's table is ``bronze_events``. Gold wins if a name
ever exists in both layers.

Read-only by construction: statements are planned with DataFusion's ``SQLOptions`` refusing
DDL (``CREATE [EXTERNAL] TABLE``, ``DROP``), DML (``INSERT``, ``COPY ... TO``, which would
write files anywhere the process may) and other statements (``SET``). Only queries
(``SELECT``, ``WITH``, ``EXPLAIN``) run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from paystream.errors import ConfigurationError, PaystreamError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession


class QueryError(PaystreamError):
    """The SQL could not be planned or run (a typo, an unknown table or column)."""


def table_locations(root: Path | str) -> dict[str, str]:
    """Registered name → table location, for every Delta table under ``root``."""
    base = Path(str(root))
    names: dict[str, str] = {}
    for layer in ("bronze", "silver", "gold"):
        folder = base / layer
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.startswith("_") or not (child / "_delta_log").is_dir():
                continue
            name = f"bronze_{child.name}" if layer == "bronze" else child.name
            names[name] = str(child)
    return names


def query(root: Path | str, sql: str) -> pa.Table:
    """Run ``sql`` against the lakehouse at ``root``; the result as an Arrow table.

    Raises:
        ConfigurationError: no tables under ``root`` (the lakehouse was never built).
        QueryError: DataFusion rejected or failed the query.
    """
    import pyarrow as pa
    from datafusion import SessionContext, SQLOptions
    from deltalake import DeltaTable

    locations = table_locations(root)
    if not locations:
        raise ConfigurationError(
            f"no lakehouse tables under {root}; build them with `paystream lakehouse build`"
        )
    ctx = SessionContext()
    for name, location in locations.items():
        # Through Arrow's dataset interface, which is stable across the two libraries'
        # versions (delta-rs bundles its own DataFusion).
        ctx.register_dataset(name, DeltaTable(location).to_pyarrow_dataset())
    read_only = SQLOptions().with_allow_ddl(False).with_allow_dml(False)
    read_only = read_only.with_allow_statements(False)
    try:
        result = ctx.sql_with_options(sql, read_only).to_arrow_table()
    except Exception as exc:  # DataFusion raises plain Exceptions with its message
        message = str(exc).strip()
        if "not supported" in message and any(k in message for k in ("DDL", "DML", "Statement")):
            raise QueryError(
                f"only queries run here (SELECT, WITH, EXPLAIN): {message[:300]}"
            ) from exc
        raise QueryError(f"query failed: {message[:500]}") from exc
    return result if isinstance(result, pa.Table) else pa.table(result)


def spark_query(spark: SparkSession, root: Path | str, sql: str, limit: int) -> pa.Table:
    """Run ``sql`` with Spark over the same tables :func:`query` sees; at most ``limit`` rows.

    Raises:
        QueryError: Spark could not parse or analyse the statement.
    """
    for name, location in table_locations(root).items():
        spark.read.format("delta").load(location).createOrReplaceTempView(name)
    try:
        frame = spark.sql(sql)
    except Exception as exc:  # AnalysisException / ParseException: say what Spark said
        raise QueryError(f"Spark SQL failed: {str(exc).splitlines()[0][:300]}") from exc
    return frame.limit(limit).toArrow()
