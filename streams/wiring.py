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
    from streams.sinks.redis_rebuild import SelfHealingRedis
    from streams.sinks.redis_state import RedisStateSink

    database = Database(settings.mysql)
    redis_sink = RedisStateSink(settings.redis, namespace=namespace)
    return Pipeline(
        LedgerSink(database),
        [
            SelfHealingRedis(redis_sink, database, settings.redis.session_ttl_s),
            GremlinGraphSink(settings.gremlin, namespace=f"{namespace}:"),
        ],
    )
