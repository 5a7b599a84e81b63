"""Product names and prices for the served lists, from gold ``product_catalogue``.

An app shows a recommendation without a second lookup: every served item carries the
product's name and its merchant's latest unit price, as integer minor units beside an ISO
4217 currency (:class:`paystream.money.Money`). The catalogue is read when the lists are
written, through delta-rs (no JVM). An item it does not know, or whose price is not a valid
amount, is still served, with ``name`` and ``unit_price`` null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

from paystream.contracts.gold import gold_path
from paystream.contracts.served import RecommendedItem
from paystream.errors import PaystreamError
from paystream.money import Money, MoneyError

TABLE = "product_catalogue"
#: The columns read; the gold table has them (plus ``priced_at``).
COLUMNS = ("merchant_id", "item", "name", "unit_price_minor", "currency")


class CatalogueError(PaystreamError):
    """A product catalogue that was asked for cannot be read."""


@dataclass(frozen=True)
class Product:
    """What an app shows of one product at one merchant."""

    name: str | None
    unit_price: Money | None


class Catalogue:
    """Products by ``(merchant_id, item)``; ``source`` says where they came from."""

    def __init__(self, products: Mapping[tuple[str, str], Product], source: str) -> None:
        self.products = dict(products)
        self.source = source

    def __len__(self) -> int:
        return len(self.products)

    def describe(self, merchant_id: str, item: RecommendedItem) -> RecommendedItem:
        """``item`` with its name and price at ``merchant_id`` (unchanged when unknown)."""
        product = self.products.get((merchant_id, item.item_id))
        if product is None:
            return item
        return item.model_copy(update={"name": product.name, "unit_price": product.unit_price})

    def note(self) -> str:
        """One line for the command's report."""
        if not self.products:
            return f"no product names or prices ({self.source}): items served with them null"
        return f"names and prices of {len(self):,} products from {self.source}"


def unit_price(amount_minor: Any, currency: Any) -> Money | None:
    """The price as money, or None when either part is missing or not a valid amount.

    Only an integer counts as minor units: a float (a column read through pandas, a NaN)
    is refused rather than rounded, so no price is ever made up.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, Integral):
        return None
    if not isinstance(currency, str):
        return None
    try:
        return Money(amount_minor=int(amount_minor), currency=currency)
    except (MoneyError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def products(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Product]:
    """Catalogue rows (``merchant_id, item, name, unit_price_minor, currency``) by key.

    Rows without a merchant or item are skipped; an empty name becomes None. A key that
    repeats keeps its first row, as the gold table has one row per key anyway.
    """
    out: dict[tuple[str, str], Product] = {}
    for row in rows:
        merchant, item = row.get("merchant_id"), row.get("item")
        if not merchant or not item:
            continue
        key = (str(merchant), str(item))
        if key in out:
            continue
        name = str(row["name"]).strip() if row.get("name") is not None else ""
        out[key] = Product(
            name=name or None,
            unit_price=unit_price(row.get("unit_price_minor"), row.get("currency")),
        )
    return out


def gold_catalogue_path(lakehouse_root: Path) -> Path:
    """Where the lakehouse writes gold ``product_catalogue``."""
    return Path(gold_path(lakehouse_root, TABLE))


def load_catalogue(path: Path, *, required: bool = True) -> Catalogue:
    """The catalogue in the Delta table (or Parquet file or folder) at ``path``.

    With ``required=False`` a missing table is an empty catalogue (gold not built yet).

    Raises:
        CatalogueError: the table is missing (when required), unreadable or lacks a column.
    """
    if not path.exists():
        if not required:
            return Catalogue({}, f"{path} not built yet")
        raise CatalogueError(f"product catalogue {path} does not exist")
    try:
        table = _read(path)
    except CatalogueError:
        raise
    except Exception as exc:  # any reader failure means the same thing to the user
        raise CatalogueError(f"cannot read product catalogue {path}: {exc}") from exc
    return Catalogue(products(table.to_pylist()), str(path))


def _read(path: Path) -> Any:
    if path.is_dir() and (path / "_delta_log").is_dir():
        from deltalake import DeltaTable

        table = DeltaTable(str(path))
        _require(path, {field.name for field in table.schema().fields})
        return table.to_pyarrow_table(columns=list(COLUMNS))
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise CatalogueError(f"{path}: not a Delta table or Parquet file(s)")
    _require(path, set(pq.read_schema(files[0]).names))
    return pq.read_table(path, columns=list(COLUMNS))


def _require(path: Path, present: set[str]) -> None:
    missing = [c for c in COLUMNS if c not in present]
    if missing:
        raise CatalogueError(
            f"product catalogue {path} lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(COLUMNS)}"
        )
