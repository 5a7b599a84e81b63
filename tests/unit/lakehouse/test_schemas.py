"""Contract JSON Schema → Spark types, without a JVM."""

from __future__ import annotations

from pyspark.sql import types as st

from lakehouse.silver.schemas import ENVELOPE, topic_schema
from paystream.contracts import TOPICS


def test_every_topic_schema_starts_with_the_envelope_and_has_no_conflicting_fields():
    for topic in TOPICS:
        schema = topic_schema(topic)
        assert [f.name for f in schema.fields[:4]] == list(ENVELOPE)


def test_contract_types_map_to_spark_types_money_stays_integer():
    payments = {f.name: f.dataType for f in topic_schema("payments").fields}
    assert payments["occurred_at"] == st.TimestampType()
    assert payments["amount"] == st.StructType(
        [st.StructField("amount_minor", st.LongType()), st.StructField("currency", st.StringType())]
    )
    assert payments["card_fingerprint"] == st.StringType()
    lines = payments["lines"]
    assert isinstance(lines, st.ArrayType)
    assert {f.name: f.dataType for f in lines.elementType.fields}["quantity"] == st.LongType()
    bookings = {f.name: f.dataType for f in topic_schema("bookings").fields}
    assert bookings["start_date"] == st.DateType()
    decisions = {f.name: f.dataType for f in topic_schema("decisions").fields}
    assert decisions["features"] == st.MapType(st.StringType(), st.DoubleType())
    assert decisions["score"] == st.DoubleType()
