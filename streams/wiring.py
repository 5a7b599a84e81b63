"""Builds each sink's pipeline from settings (one adapter per backend), once per worker."""

from __future__ import annotations

from paystream.settings import Settings
from paystream.stores.mysql import Database
from streams.groups import FEED, SinkName
from streams.pipeline import LedgerPipeline, ProjectionPipeline
from streams.sinks.ledger import LedgerSink


def build_pipeline(settings: Settings, sink: SinkName) -> LedgerPipeline | ProjectionPipeline:
    """The pipeline of one sink, connected to its store."""
    if sink == "ledger":
        return LedgerPipeline(LedgerSink(Database(settings.mysql)))
    from streams.sinks.rebuild import SelfHealing

    namespace = settings.streams.namespace
    ttl = settings.redis.session_ttl_s
    # A projection keeps a ledger connection only to rebuild itself when its store lost data.
    database = Database(settings.mysql)
    feed = settings.kafka.topic(FEED)
    if sink == "redis":
        from streams.sinks.redis_state import RedisStateSink

        redis_sink = RedisStateSink(settings.redis, namespace=namespace)
        return ProjectionPipeline(SelfHealing(redis_sink, database, ttl, full_history=False), feed)
    from streams.sinks.graph import GremlinGraphSink

    graph_sink = GremlinGraphSink(settings.gremlin, namespace=f"{namespace}:")
    return ProjectionPipeline(SelfHealing(graph_sink, database, ttl, full_history=True), feed)
