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


# -- MySQL passwords ------------------------------------------------------------------------

REMOTE = "mysql+pymysql://paystream{}@db.internal:3306/paystream?charset=utf8mb4"


def mysql(**values):
    from pydantic import SecretStr

    from paystream.settings import MySQLSettings

    return MySQLSettings(**{k: SecretStr(v) for k, v in values.items()})


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"primary_url": REMOTE.format(":paystream")}, "mysql.primary_url"),
        ({"replica_url": REMOTE.format(":paystream")}, "mysql.replica_url"),
        ({"primary_url": REMOTE.format(""), "password": "paystream"}, "mysql.password"),
        (
            {
                "primary_url": REMOTE.format("").replace("db.internal", "10.1.2.3"),
                "password": "paystream",
            },
            "mysql.password",
        ),
    ],
)
def test_the_shipped_default_password_is_refused_for_a_host_off_loopback(values, setting):
    with pytest.raises(ConfigurationError) as refused:
        mysql(**values)
    message = str(refused.value)
    assert message.startswith(setting) and "\n" not in message
    assert "PAYSTREAM_" + setting.replace(".", "__").upper() in message


def test_the_refusal_is_one_line_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_MYSQL__PRIMARY_URL", REMOTE.format(":paystream"))
    with pytest.raises(ConfigurationError, match=r"^mysql\.primary_url is the shipped default"):
        load_settings()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "[::1]"])
def test_a_loopback_host_may_still_use_it_until_the_stack_is_migrated(host):
    url = f"mysql+pymysql://paystream:paystream@{host}:3306/paystream"
    assert mysql(primary_url=url).primary_url.get_secret_value() == url


def test_a_url_without_a_password_gets_the_password_setting_encoded():
    from sqlalchemy.engine import make_url

    settings = mysql(password="p/w@x:y%'\\")
    for url in (settings.primary_url, settings.replica_url):
        parsed = make_url(url.get_secret_value())
        assert parsed.password == "p/w@x:y%'\\"
        assert (parsed.username, parsed.host) == ("paystream", "127.0.0.1")
    assert "p/w" not in repr(settings)


def test_a_password_in_the_url_wins_and_a_passwordless_url_stays_passwordless():
    settings = mysql(primary_url=REMOTE.format(":own"), password="generated")
    assert ":own@" in settings.primary_url.get_secret_value()
    assert ":generated@127.0.0.1:3307" in settings.replica_url.get_secret_value()
    # Only the shipped URLs fall back to the old default: a URL the user wrote is theirs.
    explicit = mysql(primary_url="mysql+pymysql://root@127.0.0.1/paystream")
    assert explicit.primary_url.get_secret_value() == "mysql+pymysql://root@127.0.0.1/paystream"


def test_the_default_urls_name_no_password_of_their_own():
    from paystream.settings import MySQLSettings

    for name in ("primary_url", "replica_url"):
        default = MySQLSettings.model_fields[name].default.get_secret_value()
        assert default.startswith("mysql+pymysql://paystream@127.0.0.1:")


def test_clients_refresh_metadata_often_enough_to_find_a_restarted_broker_within_30_s():
    # At Kafka's 300 s default the kafka_restart drill stalled every group for about 5 min.
    assert load_settings().kafka.client_options()["metadata_max_age_ms"] <= 10_000
