import pytest

from paystream.errors import ConfigurationError
from paystream.settings import load_settings


def test_local_profile_needs_no_credentials(monkeypatch):
    monkeypatch.delenv("PAYSTREAM_KAFKA__PROFILE", raising=False)
    settings = load_settings()
    options = settings.kafka.client_options()
    assert settings.kafka.profile == "local"
    assert "security_protocol" not in options


def test_eventhubs_profile_is_configuration_alone(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_KAFKA__PROFILE", "eventhubs")
    monkeypatch.setenv("PAYSTREAM_KAFKA__BOOTSTRAP_SERVERS", "ns.servicebus.windows.net:9093")
    monkeypatch.setenv(
        "PAYSTREAM_KAFKA__CONNECTION_STRING", "Endpoint=sb://ns/;SharedAccessKey=s3cret"
    )
    kafka = load_settings().kafka
    options = kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["sasl_plain_username"] == "$ConnectionString"
    assert options["connections_max_idle_ms"] < 240_000
    assert options["metadata_max_age_ms"] < 240_000
    assert options["request_timeout_ms"] >= 60_000
    assert "s3cret" not in repr(kafka)


def test_eventhubs_profile_without_connection_string_fails_fast_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_KAFKA__PROFILE", "eventhubs")
    monkeypatch.delenv("PAYSTREAM_KAFKA__CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigurationError, match="PAYSTREAM_KAFKA__CONNECTION_STRING"):
        load_settings()


def test_credentials_are_secret_and_nested_settings_come_from_env(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_MYSQL__REPLICA_URL", "mysql+pymysql://u:pw@replica:3307/db")
    monkeypatch.setenv("PAYSTREAM_GREMLIN__PARTITION_KEY", "tenant")
    settings = load_settings()
    assert "pw@" not in repr(settings.mysql)
    assert settings.mysql.replica_url.get_secret_value().endswith("replica:3307/db")
    assert settings.gremlin.partition_key == "tenant"
    # The local default dialect merges rows over GraphBinary; Cosmos gets GraphSON v2.
    assert settings.gremlin.dialect == "tinkerpop"
    assert settings.gremlin.wire_serializer == "graphbinary"


def test_the_graph_serializer_must_fit_the_dialect(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_GREMLIN__DIALECT", "cosmos")
    assert load_settings().gremlin.wire_serializer == "graphson2"
    monkeypatch.setenv("PAYSTREAM_GREMLIN__SERIALIZER", "graphbinary")
    with pytest.raises(ConfigurationError, match="GraphSON v2 only"):
        load_settings()
    monkeypatch.setenv("PAYSTREAM_GREMLIN__DIALECT", "tinkerpop")
    monkeypatch.setenv("PAYSTREAM_GREMLIN__SERIALIZER", "graphson2")
    with pytest.raises(ConfigurationError, match="PAYSTREAM_GREMLIN__DIALECT=cosmos"):
        load_settings()


def test_a_bad_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_KAFKA__PARTITIONS", "0")
    with pytest.raises(ConfigurationError, match="kafka.partitions"):
        load_settings()
