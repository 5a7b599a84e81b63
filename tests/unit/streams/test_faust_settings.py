import faust

from paystream.bus.worker import faust_settings
from paystream.settings import load_settings


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


def test_the_deployment_uses_eight_topics_at_most_ten_with_internals():
    from paystream.bus.kafka import all_topics

    settings = load_settings()
    # Six domain topics (decisions among them), the dead letters and the ledger's change feed.
    assert len(all_topics(settings.kafka)) == 8
    assert settings.kafka.topic("ledger") in all_topics(settings.kafka)


def test_every_sink_has_its_own_consumer_group_within_event_hubs_limits():
    from streams.groups import SINKS, all_groups, group_id, sink_topics

    settings = load_settings()
    groups = all_groups(settings)
    assert len({group_id(settings, sink) for sink in SINKS}) == 3
    assert group_id(settings, "ledger") == settings.streams.app_id
    # Projections read the change feed; the ledger writes it and never reads it.
    feed = settings.kafka.topic("ledger")
    assert feed not in sink_topics(settings, "ledger")
    assert all(feed in sink_topics(settings, s) for s in ("redis", "graph"))
    # At most 20 consumer groups per event hub on Event Hubs Standard.
    per_topic: dict[str, int] = {}
    for topics in groups.values():
        for topic in topics:
            per_topic[topic] = per_topic.get(topic, 0) + 1
    assert max(per_topic.values()) <= 4 < 20
