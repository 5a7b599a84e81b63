"""Delta gold tables read through delta-rs (no JVM), with cached table handles.

Handles and their pyarrow datasets are opened once and refreshed at most every
``api.gold_refresh_s`` seconds (``update_incremental`` reads only the new log entries).
Queries push their predicates into the dataset scan, so partitions and Parquet row groups
that cannot match are skipped instead of loaded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from paystream.contracts.gold import GOLD_TABLES as GOLD_CONTRACT
from paystream.errors import ServiceUnavailableError

# The table names come from the gold contract that the Spark jobs write.
GOLD_TABLES: tuple[str, ...] = tuple(GOLD_CONTRACT)


@dataclass
class _Handle:
    table: DeltaTable
    dataset: ds.Dataset
    version: int
    checked_at: float


class GoldTables:
    """Cached handles on the gold tables under ``<lakehouse root>/gold``."""

    def __init__(self, root: Path, refresh_s: float) -> None:
        self.root = root / "gold"
        self.refresh_s = refresh_s
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        """Folder of one gold table."""
        return self.root / name

    def exists(self, name: str) -> bool:
        """True if the table has a Delta log."""
        return DeltaTable.is_deltatable(str(self.path(name)))

    def _missing(self, name: str) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"Delta gold table {name}",
            str(self.path(name)),
            "not built yet; run the lakehouse gold job",
        )

    def dataset(self, name: str) -> ds.Dataset:
        """The table's current pyarrow dataset, refreshed if the cached one is stale.

        Raises:
            ServiceUnavailableError: the table does not exist (yet).
        """
        now = time.monotonic()
        handle = self._handles.get(name)
        if handle is not None and now - handle.checked_at < self.refresh_s:
            return handle.dataset
        with self._lock:
            handle = self._handles.get(name)
            if handle is not None and now - handle.checked_at < self.refresh_s:
                return handle.dataset
            try:
                if handle is None:
                    table = DeltaTable(str(self.path(name)))
                else:
                    table = handle.table
                    table.update_incremental()
            except Exception as exc:  # deltalake raises TableNotFoundError, OSError, ...
                if handle is not None:
                    # Keep serving the last good version rather than failing reads.
                    handle.checked_at = now
                    return handle.dataset
                raise self._missing(name) from exc
            version = table.version()
            if handle is not None and handle.version == version:
                handle.checked_at = now
                return handle.dataset
            dataset = table.to_pyarrow_dataset()
            self._handles[name] = _Handle(table, dataset, version, now)
            return dataset

    def scan(
        self, name: str, where: pc.Expression | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Rows of ``name`` matching ``where`` (pushed down into the scan)."""
        return self.dataset(name).to_table(columns=columns, filter=where)

    # --- the API's queries ------------------------------------------------------------

    def statements(
        self, merchant_id: str, granularity: str, start: date | None, end: date | None
    ) -> pa.Table:
        """One merchant's statement rows of one granularity, oldest period first."""
        where = (pc.field("granularity") == granularity) & (pc.field("merchant_id") == merchant_id)
        rows = self.scan("merchant_statements", where & _between("period_start", start, end))
        return rows.sort_by([("period_start", "ascending"), ("currency", "ascending")])

    def history(self, customer_id: str, merchant_id: str, limit: int) -> pa.Table:
        """A customer's payments at one merchant, newest first."""
        where = (pc.field("customer_id") == customer_id) & (pc.field("merchant_id") == merchant_id)
        rows = self.scan("customer_payment_history", where)
        return rows.sort_by([("authorized_at", "descending")]).slice(0, limit)

    def revenue(
        self, granularity: str, start: date | None = None, end: date | None = None
    ) -> pa.Table:
        """Gross, refunds and net of all merchants per period and currency."""
        rows = self.scan(
            "merchant_statements",
            (pc.field("granularity") == granularity) & _between("period_start", start, end),
            ["period_start", "currency", "gross_minor", "refunds_minor", "net_minor"],
        )
        totals = rows.group_by(["period_start", "currency"]).aggregate(
            [("gross_minor", "sum"), ("refunds_minor", "sum"), ("net_minor", "sum")]
        )
        totals = totals.select(
            ["period_start", "currency", "gross_minor_sum", "refunds_minor_sum", "net_minor_sum"]
        ).rename_columns(["period_start", "currency", "gross_minor", "refunds_minor", "net_minor"])
        return totals.sort_by([("period_start", "ascending"), ("currency", "ascending")])

    def period(self) -> tuple[date | None, date | None]:
        """The first and last day that daily statements cover (None, None when empty)."""
        days = self.scan(
            "merchant_statements", pc.field("granularity") == "day", ["period_start"]
        ).column("period_start")
        if len(days) == 0:
            return None, None
        bounds = pc.min_max(days).as_py()
        return bounds["min"], bounds["max"]

    def risk_kpis(self, start: date | None = None, end: date | None = None) -> pa.Table:
        """Daily payments, declines, reviews and frauds."""
        return self.scan("risk_kpis", _between("day", start, end)).sort_by([("day", "ascending")])

    def risk_reasons(self, start: date | None = None, end: date | None = None) -> pa.Table:
        """Decisions per reason code and decision over the days, most cited reason first."""
        rows = self.scan("risk_reasons", _between("day", start, end))
        totals = rows.group_by(["reason", "decision"]).aggregate([("decisions", "sum")])
        totals = totals.rename_columns(["reason", "decision", "decisions"])
        return totals.sort_by([("decisions", "descending"), ("reason", "ascending")])

    def top_products(
        self, limit: int, start: date | None = None, end: date | None = None
    ) -> pa.Table:
        """Products with the most units sold over the days, with their names."""
        rows = self.scan(
            "product_daily",
            _between("day", start, end),
            ["item", "description", "units", "orders"],
        )
        # The same SKU may be named per merchant: one row per SKU, under its first name.
        totals = rows.group_by("item").aggregate(
            [("units", "sum"), ("orders", "sum"), ("description", "min")]
        )
        totals = totals.select(["item", "description_min", "units_sum", "orders_sum"])
        totals = totals.rename_columns(["item", "description", "units", "orders"])
        return totals.sort_by([("units", "descending"), ("item", "ascending")]).slice(0, limit)


def _between(column: str, start: date | None, end: date | None) -> pc.Expression:
    """``start <= column <= end``, either bound optional (always true without both)."""
    where = pc.scalar(True)
    if start is not None:
        where = where & (pc.field(column) >= pa.scalar(start, pa.date32()))
    if end is not None:
        where = where & (pc.field(column) <= pa.scalar(end, pa.date32()))
    return where
