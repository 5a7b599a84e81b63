"""Builds the pipeline's sinks from settings (one adapter per backend)."""

from __future__ import annotations

from paystream.settings import Settings
from paystream.stores.mysql import Database
from streams.pipeline import Pipeline
from streams.sinks.ledger import LedgerSink


def build_pipeline(settings: Settings) -> Pipeline:
    """The ledger plus the Redis and graph projections, connected once."""
    namespace = settings.streams.namespace
    from streams.sinks.graph import GremlinGraphSink
    from streams.sinks.rebuild import SelfHealing
    from streams.sinks.redis_state import RedisStateSink

    database = Database(settings.mysql)
    redis_sink = RedisStateSink(settings.redis, namespace=namespace)
    graph_sink = GremlinGraphSink(settings.gremlin, namespace=f"{namespace}:")
    ttl = settings.redis.session_ttl_s
    return Pipeline(
        LedgerSink(database),
        [
            SelfHealing(redis_sink, database, ttl, full_history=False),
            SelfHealing(graph_sink, database, ttl, full_history=True),
        ],
    )
