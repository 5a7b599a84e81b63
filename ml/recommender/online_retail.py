"""Interactions from the shipped Online Retail file, for development, tests and benchmarks.

The same shape as gold ``interactions_customer_product`` (user, item, weight, timestamp,
orders), built straight from ``data/online-retail/online_retail.csv.gz`` so that tests and
benchmarks do not need the lakehouse. Keys follow the replay producer, so they match what
the stream writes to the graph: ``cust-<CustomerID>`` and the StockCode with spaces as
underscores. Guest lines (no CustomerID), credit notes (``C`` invoices), non-positive
quantities or prices and non-product codes (postage, fees, …) are left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from paystream.datasets.online_retail import (
    LONDON,
    MERCHANT_ID,
    SERVICE_CODES,
    SERVICE_PREFIXES,
)
from paystream.settings import REPO_ROOT

SOURCE = REPO_ROOT / "data" / "online-retail" / "online_retail.csv.gz"


def online_retail_interactions(
    source: Path = SOURCE, *, max_customers: int | None = None
) -> pd.DataFrame:
    """Customer × product interactions: total quantity, latest invoice time, order count.

    ``max_customers`` keeps a deterministic sample of customers (by a hash of their id, so
    the sample spreads over the whole year and customer range), for small tests.
    """
    raw = pd.read_csv(
        source,
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
        usecols=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"],
        keep_default_na=False,
    )
    code = raw["StockCode"].str.strip()
    keep = (
        (raw["CustomerID"].str.strip() != "")
        & ~raw["InvoiceNo"].str.startswith("C")
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] > 0)
        & ~code.isin(SERVICE_CODES)
        & ~code.str.startswith(SERVICE_PREFIXES)
    )
    lines = raw[keep]
    customer = "cust-" + lines["CustomerID"].str.strip().str.removesuffix(".0")
    frame = pd.DataFrame(
        {
            "user": customer,
            "item": code[keep].str.replace(" ", "_"),
            "quantity": lines["Quantity"].astype("float64"),
            # Invoice times are London wall-clock times; the platform keeps UTC.
            "timestamp": pd.to_datetime(lines["InvoiceDate"])
            .dt.tz_localize(LONDON, ambiguous="NaT", nonexistent="shift_forward")
            .dt.tz_convert("UTC"),
            "invoice": lines["InvoiceNo"],
        }
    )
    if max_customers is not None:
        frame = frame[frame["user"].isin(_sample(frame["user"].unique(), max_customers))]
    grouped = frame.groupby(["user", "item"], as_index=False, sort=True).agg(
        weight=("quantity", "sum"),
        timestamp=("timestamp", "max"),
        orders=("invoice", "nunique"),
    )
    grouped["orders"] = grouped["orders"].astype("int64")
    grouped["timestamp"] = grouped["timestamp"].astype("datetime64[us, UTC]")
    # Every Online Retail invoice is the one replayed merchant's, as in the stream.
    grouped["merchant_id"] = MERCHANT_ID
    return grouped[["user", "item", "weight", "timestamp", "orders", "merchant_id"]]


def _sample(users: Iterable[object], count: int) -> set[str]:
    def rank(user: str) -> str:
        return hashlib.sha256(user.encode()).hexdigest()

    return set(sorted((str(u) for u in users), key=rank)[:count])


def write_online_retail_interactions(
    target: Path, source: Path = SOURCE, *, max_customers: int | None = None
) -> Path:
    """Write :func:`online_retail_interactions` as Parquet (``.parquet``) or CSV (else)."""
    frame = online_retail_interactions(source, max_customers=max_customers)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".parquet":
        frame.to_parquet(target, index=False)
    else:
        frame.to_csv(target, index=False)
    return target
