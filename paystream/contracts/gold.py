"""The gold table contract: names, columns and types, shared by writer and readers.

The Spark jobs write exactly these columns (``lakehouse/gold``), the API and the notebooks read
them through delta-rs, and the sample data of tests and benchmarks is built from the same
declaration. Changing a column here is a breaking change for every reader; unit tests pin it.

Columns are written as Spark DDL (``name type, ...``) because that is the writer's language;
:func:`arrow_schema` translates them for the readers that have no JVM.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from paystream.contracts.events import ContractError

if TYPE_CHECKING:
    import pyarrow as pa

#: Gold table → its columns as Spark DDL, in order.
GOLD_TABLES: dict[str, str] = {
    "merchant_statements": (
        "merchant_id string, currency string, granularity string, period_start date, "
        "gross_minor long, refunds_minor long, net_minor long, payment_count long, "
        "refund_count long"
    ),
    "customer_payment_history": (
        "customer_id string, merchant_id string, payment_id string, currency string, "
        "amount_minor long, refunded_minor long, status string, authorized_at timestamp, "
        "captured_at timestamp, decision string"
    ),
    "interactions_customer_product": (
        "user string, item string, weight double, timestamp timestamp, orders long, "
        "merchant_id string"
    ),
    "interactions_customer_merchant": (
        "user string, item string, weight double, timestamp timestamp, orders long"
    ),
    "fraud_labels": (
        "payment_id string, customer_id string, merchant_id string, card_fingerprint string, "
        "currency string, amount_minor long, authorized_at timestamp, label int, "
        "label_source string"
    ),
    "risk_kpis": (
        "day date, payments long, declined long, reviewed long, frauds long, "
        "decline_rate double, fraud_rate double"
    ),
    "risk_reasons": "day date, reason string, decision string, decisions long",
    "product_daily": (
        "day date, merchant_id string, item string, description string, currency string, "
        "units long, orders long, revenue_minor long"
    ),
    "product_catalogue": (
        "merchant_id string, item string, name string, unit_price_minor long, "
        "currency string, priced_at timestamp"
    ),
}

#: The tables the API serves itself; its readiness check waits for these.
SERVED_TABLES: tuple[str, ...] = (
    "merchant_statements",
    "customer_payment_history",
    "interactions_customer_product",
    "risk_kpis",
    "risk_reasons",
    "product_daily",
)

#: Partition columns per gold table.
GOLD_PARTITIONS: dict[str, tuple[str, ...]] = {"merchant_statements": ("granularity",)}

#: Each gold table's key: one row per value. Incremental builds MERGE recomputed rows on it.
GOLD_KEYS: dict[str, tuple[str, ...]] = {
    "merchant_statements": ("merchant_id", "currency", "granularity", "period_start"),
    "customer_payment_history": ("payment_id",),
    "interactions_customer_product": ("user", "item", "merchant_id"),
    "interactions_customer_merchant": ("user", "item"),
    "fraud_labels": ("payment_id",),
    "risk_kpis": ("day",),
    "risk_reasons": ("day", "reason", "decision"),
    "product_daily": ("day", "merchant_id", "item", "currency"),
    "product_catalogue": ("merchant_id", "item"),
}

#: Columns each gold table is Z-ordered by in ``paystream lakehouse optimize``.
GOLD_ZORDER: dict[str, tuple[str, ...]] = {
    "merchant_statements": ("merchant_id", "period_start"),
    "customer_payment_history": ("customer_id", "merchant_id"),
    "interactions_customer_product": ("user",),
    "interactions_customer_merchant": ("user",),
    "fraud_labels": ("customer_id",),
}


def _known(name: str) -> str:
    if name not in GOLD_TABLES:
        raise ContractError(
            "unknown_gold_table",
            f"{name!r} is not a gold table; the gold tables are {', '.join(GOLD_TABLES)}",
        )
    return GOLD_TABLES[name]


def column_types(name: str) -> list[tuple[str, str]]:
    """``(column, Spark type)`` pairs of gold table ``name``, in order, parsed without a JVM."""
    pairs = []
    for part in _known(name).split(","):
        column, kind = part.split()
        pairs.append((column, kind))
    return pairs


def arrow_schema(name: str) -> pa.Schema:
    """The pyarrow schema delta-rs reads and writes for gold table ``name``.

    Spark's ``timestamp`` is stored by Delta as microseconds in UTC, ``long`` as int64 and
    ``int`` as int32, so a table written from this schema is one Spark reads back unchanged.
    """
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "long": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
    }
    return pa.schema([(column, types[kind]) for column, kind in column_types(name)])


def gold_path(root: str | Path, name: str) -> str:
    """Where gold table ``name`` lives under lakehouse ``root``, checked against the contract."""
    _known(name)
    return f"{str(root).rstrip('/')}/gold/{name}"
