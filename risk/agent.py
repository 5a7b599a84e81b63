"""The risk agent: a Faust app of its own that decides every authorization in milliseconds.

It is a separate consumer group (``settings.risk.app_id``) on the payments topic, so its
latency never waits on the ledger's large batches, and it scales on its own (up to the
partition count). It adds no topic: decisions go to ``paystream.decisions``, which the
materializing workers store in the ledger. Offsets are committed only after the batch's
decisions are in Redis and acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import NoReturn

import faust
from faust.app.base import BootStrategy

from paystream.bus.worker import faust_settings, run_worker
from paystream.settings import Settings
from risk.consume import decide_forever
from risk.model import ModelHolder
from risk.scorer import RiskScorer

log = logging.getLogger(__name__)


def build_scorer(settings: Settings) -> RiskScorer:
    """Connect the scorer's Redis, graph source and model once per worker process."""
    from paystream.stores.gremlin import GremlinConnection
    from paystream.stores.redis import DAY_MS, sync_client
    from risk.graph_cache import CachedGraph
    from risk.graph_gremlin import RiskGraph
    from risk.lookup import RiskRedis

    namespace, risk = settings.streams.namespace, settings.risk
    client = sync_client(settings.redis)
    holder = ModelHolder.from_settings(settings.mlflow, risk)
    holder.refresh()
    source: CachedGraph | RiskGraph
    if risk.graph_source == "cache":
        source = CachedGraph(client, namespace, risk.graph_stale_after_s)
    else:
        connection = GremlinConnection(settings.gremlin, timeout_s=10, name="gremlin-risk")
        source = RiskGraph(connection, f"{namespace}:")
    delay_ms = round(risk.label_delay_days * DAY_MS)
    return RiskScorer(RiskRedis(client, namespace, delay_ms), source, holder, risk)


class _HostOnly(BootStrategy):
    # Faust's consumer would join the agent's group with its own assignor, which the plain
    # consumer's group cannot share; its producer is unused. The worker hosts tasks only.
    enable_kafka = False


class _HostApp(faust.App):
    BootStrategy = _HostOnly


def create_risk_app(settings: Settings) -> faust.App:
    """Build the risk agent's Faust app; clients connect when the worker starts.

    Faust hosts the worker (its lifecycle, signals, logging and the champion timer); the
    decisions run in one task on a plain consumer (:mod:`risk.consume`), because
    Faust's per-event stream machinery cost more than scoring itself.
    """
    app = _HostApp(settings.risk.app_id, **faust_settings(settings))
    risk = settings.risk
    state: dict[str, RiskScorer] = {}

    def fatal(code: int) -> NoReturn:
        # Exit without committing or flushing: the restart re-reads the batch in hand.
        os._exit(code)

    @app.task  # type: ignore[untyped-decorator]
    async def decide() -> None:
        scorer = await asyncio.to_thread(build_scorer, settings)
        state["scorer"] = scorer
        try:
            await decide_forever(settings, scorer, fatal)
        finally:
            scorer.close()

    # Faust's decorators carry no type hints; the function below is fully typed.
    @app.timer(interval=risk.model_poll_s)  # type: ignore[untyped-decorator]
    async def follow_champion() -> None:
        scorer = state.get("scorer")
        if scorer is not None:
            await asyncio.to_thread(scorer.model.refresh)

    return app


def run_agent(settings: Settings, metrics_port: int, metrics_addr: str, log_level: str) -> None:
    """Run one risk agent in the foreground, in the agent's own consumer group."""
    payments = [settings.kafka.topic("payments")]
    run_worker(
        settings,
        create_risk_app,
        settings.risk.app_id,
        payments,
        metrics_port,
        metrics_addr,
        log_level,
    )
