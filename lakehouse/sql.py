"""Analyst SQL over the lakehouse through delta-rs and DataFusion: no JVM, no Spark.

Every gold and silver table is registered by its bare name (``merchant_statements``,
``payments``, ``events_payments``); bronze's table is ``bronze_events``. Gold wins if a name
ever exists in both layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from paystream.errors import ConfigurationError, PaystreamError

if TYPE_CHECKING:
    import pyarrow as pa


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
    from deltalake import DeltaTable, QueryBuilder

    locations = table_locations(root)
    if not locations:
        raise ConfigurationError(
            f"no lakehouse tables under {root}; build them with `paystream lakehouse build`"
        )
    builder = QueryBuilder()
    for name, location in locations.items():
        builder = builder.register(name, DeltaTable(location))
    try:
        reader = builder.execute(sql)
        return pa.table(reader.read_all()) if not isinstance(reader, pa.Table) else reader
    except Exception as exc:  # DataFusion raises plain Exceptions with its message
        raise QueryError(f"query failed: {str(exc).strip()[:500]}") from exc
