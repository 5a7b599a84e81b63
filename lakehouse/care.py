"""Table care: OPTIMIZE (with ZORDER), VACUUM and history over every lakehouse table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.gold.contract import GOLD_ZORDER
from lakehouse.paths import LAYERS, LakePaths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Z-order columns of silver tables read by key (gold's live in the gold contract).
SILVER_ZORDER: dict[str, tuple[str, ...]] = {
    "payments": ("customer_id", "merchant_id"),
    "refunds": ("payment_id",),
    "order_lines": ("order_id",),
    "events_payments": ("customer_id",),
    "events_orders": ("customer_id",),
}
ZORDER = {("gold", k): v for k, v in GOLD_ZORDER.items()} | {
    ("silver", k): v for k, v in SILVER_ZORDER.items()
}


def list_tables(
    paths: LakePaths, layers: tuple[str, ...] = LAYERS, only: frozenset[str] | None = None
) -> list[tuple[str, str]]:
    """``(layer, table)`` for every Delta table under a local root (or those in ``only``)."""
    found = []
    for layer in layers:
        folder = Path(paths.root) / layer
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if (child / "_delta_log").is_dir() and (only is None or child.name in only):
                found.append((layer, child.name))
    return found


@dataclass(frozen=True)
class CareResult:
    """What one maintenance operation did to one table."""

    layer: str
    table: str
    detail: str


def optimize(
    spark: SparkSession,
    paths: LakePaths,
    layers: tuple[str, ...] = LAYERS,
    only: frozenset[str] | None = None,
) -> list[CareResult]:
    """Compact small files; Z-order the tables that are read by key."""
    from delta.tables import DeltaTable

    results = []
    for layer, name in list_tables(paths, layers, only):
        builder = DeltaTable.forPath(spark, paths.table(layer, name)).optimize()
        columns = ZORDER.get((layer, name))
        frame = builder.executeZOrderBy(*columns) if columns else builder.executeCompaction()
        metrics = frame.first()
        detail = "z-order " + ",".join(columns) if columns else "compaction"
        if metrics is not None:
            m = metrics["metrics"]
            detail += f": {m['numFilesRemoved']} files → {m['numFilesAdded']}"
        results.append(CareResult(layer, name, detail))
    return results


def vacuum(
    spark: SparkSession,
    paths: LakePaths,
    hours: float,
    layers: tuple[str, ...] = LAYERS,
    only: frozenset[str] | None = None,
) -> list[CareResult]:
    """Delete files no version younger than ``hours`` needs (time travel ends there)."""
    from delta.tables import DeltaTable

    results = []
    for layer, name in list_tables(paths, layers, only):
        DeltaTable.forPath(spark, paths.table(layer, name)).vacuum(hours)
        results.append(CareResult(layer, name, f"vacuumed, retention {hours:g} h"))
    return results


def history(root: str, layer: str, table: str, limit: int = 10) -> list[dict[str, Any]]:
    """The last ``limit`` commits of a table, read with delta-rs (no JVM).

    Raises:
        ConfigurationError: there is no Delta table ``layer/table`` under ``root``.
    """
    from deltalake import DeltaTable

    from paystream.errors import ConfigurationError

    try:
        return list(DeltaTable(f"{root}/{layer}/{table}").history(limit))
    except Exception as exc:  # delta-rs raises TableNotFoundError and friends
        raise ConfigurationError(f"no Delta table {layer}/{table} under {root}") from exc
