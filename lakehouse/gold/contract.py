"""The gold table contract: names, columns and types that the API and the ML code read.

Changing a column here is a breaking change for ``api/`` and ``ml/``; the unit tests pin it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

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
        "user string, item string, weight double, timestamp timestamp, orders long"
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
}

#: Partition columns per gold table.
GOLD_PARTITIONS: dict[str, tuple[str, ...]] = {"merchant_statements": ("granularity",)}

#: Columns each gold table is Z-ordered by in ``paystream lakehouse optimize``.
GOLD_ZORDER: dict[str, tuple[str, ...]] = {
    "merchant_statements": ("merchant_id", "period_start"),
    "customer_payment_history": ("customer_id", "merchant_id"),
    "interactions_customer_product": ("user",),
    "interactions_customer_merchant": ("user",),
    "fraud_labels": ("customer_id",),
}


def gold_schema(name: str) -> StructType:
    """The Spark schema of gold table ``name``."""
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(GOLD_TABLES[name])
    assert isinstance(schema, StructType)
    return schema


def column_types(name: str) -> list[tuple[str, str]]:
    """``(column, type)`` pairs of gold table ``name``, parsed without a JVM."""
    pairs = []
    for part in GOLD_TABLES[name].split(","):
        column, kind = part.split()
        pairs.append((column, kind))
    return pairs
