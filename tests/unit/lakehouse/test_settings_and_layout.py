"""Kafka/JDBC options, layer parsing, watermark SQL and the gold contract (no network)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import SecretStr

from lakehouse.bronze.kafka import bronze_topics, kafka_options
from lakehouse.gold.contract import GOLD_TABLES, column_types
from lakehouse.jobs import parse_layers
from lakehouse.paths import LakePaths
from lakehouse.silver.ledger import TABLES_BY_NAME, jdbc_options
from paystream.errors import ConfigurationError
from paystream.settings import KafkaSettings, MySQLSettings


def test_bronze_reads_every_domain_topic_but_not_the_dead_letter_topic():
    topics = bronze_topics(KafkaSettings(topic_prefix="t1"))
    assert "t1.payments" in topics and "t1.dlq" not in topics


def test_event_hubs_profile_sets_sasl_plain_with_the_connection_string():
    secret = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=abc"
    settings = KafkaSettings(profile="eventhubs", connection_string=SecretStr(secret))
    options = kafka_options(settings)
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    assert 'username="$ConnectionString"' in options["kafka.sasl.jaas.config"]
    assert secret in options["kafka.sasl.jaas.config"]
    assert "kafkashaded." in kafka_options(settings, shaded=True)["kafka.sasl.jaas.config"]
    assert "kafka.sasl.jaas.config" not in kafka_options(KafkaSettings())


def test_jdbc_reads_the_replica_never_the_primary():
    mysql = MySQLSettings(
        primary_url=SecretStr("mysql+pymysql://u:p@db1:3306/led?charset=utf8mb4"),
        replica_url=SecretStr("mysql+pymysql://u:p@db2:3307/led?charset=utf8mb4"),
    )
    options = jdbc_options(mysql)
    assert options["url"].startswith("jdbc:mysql://db2:3307/led?")
    assert (options["user"], options["password"]) == ("u", "p")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("charset=utf8mb4", "sslMode=DISABLED&allowPublicKeyRetrieval=true"),
        ("ssl_ca=/etc/ssl/certs/ca-certificates.crt", "sslMode=VERIFY_IDENTITY"),
        ("ssl_verify_cert=true&ssl_verify_identity=true", "sslMode=VERIFY_IDENTITY"),
        ("ssl_ca=/ca.pem&ssl_verify_cert=false", "sslMode=REQUIRED"),
        ("ssl_disabled=true", "sslMode=DISABLED&allowPublicKeyRetrieval=true"),
    ],
)
def test_the_jdbc_pull_honours_the_urls_tls_settings(query, expected):
    replica = f"mysql+pymysql://u:p@replica.mysql.database.azure.com:3306/led?{query}"
    mysql = MySQLSettings(primary_url=SecretStr(replica), replica_url=SecretStr(replica))
    url = jdbc_options(mysql)["url"]
    assert url.endswith(expected) and "useSSL=false" not in url


def test_watermark_query_reads_everything_first_then_only_rows_above_the_watermark():
    payments = TABLES_BY_NAME["payments"]
    assert "WHERE" not in payments.query(None)
    since = payments.query(datetime(2026, 1, 2, 3, 4, 5, 6))
    assert since.endswith("WHERE p.updated_at > '2026-01-02 03:04:05.000006'")


def test_layers_are_parsed_in_build_order_and_unknown_ones_are_refused():
    assert parse_layers("gold, bronze") == ("bronze", "gold")
    with pytest.raises(ConfigurationError, match="platinum"):
        parse_layers("silver,platinum")


def test_table_paths_keep_uri_schemes():
    paths = LakePaths.of("abfss://lake@acct.dfs.core.windows.net/ps/")
    assert (
        paths.table("gold", "risk_kpis")
        == "abfss://lake@acct.dfs.core.windows.net/ps/gold/risk_kpis"
    )
    assert not paths.is_local
    with pytest.raises(ValueError):
        paths.table("platinum", "x")


def test_gold_contract_names_and_money_types_are_fixed():
    assert set(GOLD_TABLES) == {
        "merchant_statements", "customer_payment_history", "interactions_customer_product",
        "interactions_customer_merchant", "fraud_labels", "risk_kpis", "risk_reasons",
        "product_daily", "product_catalogue",
    }  # fmt: skip
    for name in GOLD_TABLES:
        for column, kind in column_types(name):
            if column.endswith("_minor"):
                assert kind == "long", (name, column)
    assert column_types("fraud_labels")[-2] == ("label", "int")
