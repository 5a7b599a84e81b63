"""The gold contract in Spark terms; the declaration itself is ``paystream.contracts.gold``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paystream.contracts.gold import (
    GOLD_KEYS,
    GOLD_PARTITIONS,
    GOLD_TABLES,
    GOLD_ZORDER,
    column_types,
)

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = [
    "GOLD_KEYS",
    "GOLD_PARTITIONS",
    "GOLD_TABLES",
    "GOLD_ZORDER",
    "column_types",
    "gold_schema",
]


def gold_schema(name: str) -> StructType:
    """The Spark schema of gold table ``name``."""
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(GOLD_TABLES[name])
    assert isinstance(schema, StructType)
    return schema
