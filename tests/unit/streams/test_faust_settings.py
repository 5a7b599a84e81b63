import faust

from paystream.settings import load_settings
from streams.app import faust_settings


def test_local_profile_uses_plain_kafka_and_no_faust_internal_topics():
    options = faust_settings(load_settings())
    assert options["broker"] == ["kafka://127.0.0.1:9092"]
    assert options["topic_disable_leader"] is True
    assert options["store"] == "memory://"
    assert options["processing_guarantee"] == "at_least_once"
    assert "broker_credentials" not in options


def test_eventhubs_profile_configures_faust_by_settings_alone(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_KAFKA__PROFILE", "eventhubs")
    monkeypatch.setenv("PAYSTREAM_KAFKA__BOOTSTRAP_SERVERS", "ns.servicebus.windows.net:9093")
    monkeypatch.setenv("PAYSTREAM_KAFKA__CONNECTION_STRING", "Endpoint=sb://ns/;SharedAccessKey=k")
    options = faust_settings(load_settings())
    credentials = options["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "$ConnectionString"
    assert str(credentials.mechanism.value) == "PLAIN"
    assert credentials.ssl_context is not None
    assert options["consumer_connections_max_idle_ms"] < 240_000
    assert options["producer_metadata_max_age_ms"] < 240_000
    assert options["producer_request_timeout"] >= 60


def test_the_app_declares_seven_topics_at_most_ten_with_internals(monkeypatch):
    from paystream.bus.kafka import all_topics

    settings = load_settings()
    assert len(all_topics(settings.kafka)) == 7
