"""Spark schemas derived from the event contracts' JSON Schema (``paystream.contracts``).

Silver parses each topic's events with the union of its event types' contract schemas, so
the column types are the contract's, never a guess: ``date-time`` strings become timestamps,
``date`` strings dates, money structs of longs, ``features`` a map of doubles. Fields the
contract does not know are not read (see :mod:`lakehouse.silver.events`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from paystream.contracts import EVENT_CLASSES, json_schemas
from paystream.errors import PaystreamError

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

#: The envelope columns, first in every silver event table.
ENVELOPE = ("event_id", "event_type", "schema_version", "occurred_at")


class SchemaConflictError(PaystreamError, ValueError):
    """Two event types of one topic declare the same field with different types."""


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return _resolve(options[0], defs)
    return node


def spark_type(node: dict[str, Any], defs: dict[str, Any]) -> DataType:
    """The Spark type of one JSON Schema node (``$ref`` and ``anyOf [X, null]`` resolved)."""
    from pyspark.sql import types as st

    node = _resolve(node, defs)
    kind = node.get("type")
    if node.get("anyOf"):
        # A real union (e.g. int | str): keep the JSON text rather than pick a side.
        return st.StringType()
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return st.TimestampType()
        if fmt == "date":
            return st.DateType()
        return st.StringType()
    if kind == "integer":
        return st.LongType()
    if kind == "number":
        return st.DoubleType()
    if kind == "boolean":
        return st.BooleanType()
    if kind == "array":
        return st.ArrayType(spark_type(node.get("items", {}), defs), True)
    if kind == "object":
        if "properties" in node:
            return st.StructType(
                [
                    st.StructField(name, spark_type(sub, defs), True)
                    for name, sub in node["properties"].items()
                ]
            )
        values: Any = node.get("additionalProperties") or next(
            iter(node.get("patternProperties", {}).values()), {}
        )
        value_type = spark_type(values, defs) if isinstance(values, dict) else st.StringType()
        return st.MapType(st.StringType(), value_type, True)
    return st.StringType()


def event_types_of(topic: str) -> list[str]:
    """The event types carried by logical topic ``topic``."""
    return sorted(name for name, cls in EVENT_CLASSES.items() if cls.topic == topic)


@cache
def _topic_schema_json(topic: str) -> str:
    from pyspark.sql import types as st

    schemas = json_schemas()
    fields: dict[str, st.StructField] = {}
    for event_type in event_types_of(topic):
        schema = schemas[event_type]
        defs = schema.get("$defs", {})
        for name, node in schema["properties"].items():
            field = st.StructField(name, spark_type(node, defs), True)
            known = fields.get(name)
            if known is not None and known.dataType != field.dataType:
                raise SchemaConflictError(
                    f"topic {topic}: field {name} is {known.dataType.simpleString()} in one "
                    f"event type and {field.dataType.simpleString()} in {event_type}"
                )
            fields.setdefault(name, field)
    ordered = [fields[n] for n in ENVELOPE] + [f for n, f in fields.items() if n not in ENVELOPE]
    return st.StructType(ordered).json()


def topic_schema(topic: str) -> StructType:
    """Union of the contract schemas of every event type on ``topic``."""
    from pyspark.sql import types as st

    return st.StructType.fromJson(json.loads(_topic_schema_json(topic)))
