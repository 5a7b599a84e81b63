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
    from streams.sinks.redis_state import RedisStateSink

    return Pipeline(
        LedgerSink(Database(settings.mysql)),
        [
            RedisStateSink(settings.redis, namespace=namespace),
            GremlinGraphSink(settings.gremlin, namespace=f"{namespace}:"),
        ],
    )
