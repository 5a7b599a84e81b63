"""The risk agent: a Faust app of its own that decides every authorization in milliseconds.

It is a separate consumer group (``settings.risk.app_id``) on the payments topic, so its
latency never waits on the ledger's large batches, and it scales on its own (up to the
partition count). It adds no topic: decisions go to ``paystream.decisions``, which the
materializing workers store in the ledger. Offsets are acknowledged only after the batch's
decisions are in Redis and acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust

from paystream.contracts import ContractError
from paystream.contracts.events import PaymentAuthorized
from paystream.contracts.storable import parse_record
from paystream.settings import Settings
from streams.app import faust_settings
from streams.pipeline import retrying
from streams.risk.model import ModelHolder
from streams.risk.scorer import RiskScorer
from streams.risk.stages import STAGE_SECONDS, StageClock

log = logging.getLogger(__name__)


def authorizations(values: list[bytes]) -> list[PaymentAuthorized]:
    """The valid authorizations among raw payment-topic records.

    Everything else is skipped here: captures and refunds are not scored, and malformed
    records (tombstones without a value, a card number in any field) are dead-lettered by the
    ledger's workers, which read the same topic. Nothing here raises on a bad record.
    """
    found: list[PaymentAuthorized] = []
    for value in values:
        if not value or b'"payment.authorized"' not in value:
            continue
        try:
            # A card number must not reach the decision store either.
            event = parse_record(value)
        except (ContractError, ValueError, TypeError, RecursionError):
            continue
        if isinstance(event, PaymentAuthorized):
            found.append(event)
    return found


def _observe_consume_wait(events: list[Any]) -> None:
    # The record's timestamp is the producer's create time (seconds): the wait covers the
    # broker, the fetch and the batch held open, as the payment experiences them.
    now = time.time()
    stage = STAGE_SECONDS.labels("consume_wait")
    for event in events:
        stamp = getattr(event.message, "timestamp", None)
        if stamp:
            stage.observe(max(now - stamp, 0.0))


def build_scorer(settings: Settings) -> RiskScorer:
    """Connect the scorer's Redis, graph source and model once per worker process."""
    from paystream.stores.redis import sync_client
    from streams.risk.graph_cache import CachedGraph
    from streams.risk.graph_gremlin import RiskGraph
    from streams.risk.lookup import RiskRedis
    from streams.sinks.graph import GremlinGraphSink

    namespace, risk = settings.streams.namespace, settings.risk
    client = sync_client(settings.redis)
    holder = ModelHolder.from_settings(settings.mlflow, risk)
    holder.refresh()
    source: CachedGraph | RiskGraph
    if risk.graph_source == "cache":
        source = CachedGraph(client, namespace, risk.graph_stale_after_s)
    else:
        graph = GremlinGraphSink(settings.gremlin, namespace=f"{namespace}:", timeout_s=10)
        source = RiskGraph(graph)
    return RiskScorer(RiskRedis(client, namespace), source, holder, risk)


def create_risk_app(settings: Settings) -> faust.App:
    """Build the risk agent's Faust app; clients connect when the agent starts."""
    options: dict[str, Any] = {
        **faust_settings(settings),
        "broker_max_poll_records": settings.risk.batch_size,
        # Fetch as soon as anything is there: latency, not throughput, is this app's job.
        "consumer_max_fetch_size": 1_048_576,
        "producer_linger": 0.0,
    }
    app = faust.App(settings.risk.app_id, **options)
    kafka, risk = settings.kafka, settings.risk
    payments = app.topic(kafka.topic("payments"), key_serializer="raw", value_serializer="raw")
    state: dict[str, RiskScorer] = {}

    @app.agent(payments)
    async def score(stream: faust.StreamT[bytes]) -> None:
        from paystream.bus.kafka import event_record, new_producer

        scorer = await asyncio.to_thread(build_scorer, settings)
        state["scorer"] = scorer
        # A plain producer, not Faust's buffered one: every millisecond counts here, and each
        # batch waits for its own acknowledgements anyway.
        producer = new_producer(kafka, low_latency=True)
        await producer.start()
        marking: set[asyncio.Task[None]] = set()
        try:
            async for events in stream.take_events(risk.batch_size, within=risk.batch_within_s):  # type: ignore[attr-defined]
                # As in the materializing agent: take_events acknowledges in a `finally:`,
                # so a batch must never be left half-done. Errors and cancellation exit hard.
                try:
                    batch = authorizations([e.value for e in events])
                    if not batch:
                        continue
                    _observe_consume_wait(events)
                    clock = StageClock()
                    result = await asyncio.to_thread(retrying("risk")(scorer.score), batch)
                    # The scorer lapped its own stages; what is left is the hop there and back.
                    hop = clock.elapsed_s - result.elapsed_s
                    STAGE_SECONDS.labels("thread_hop").observe(max(hop, 0.0))
                    clock.skip()
                    wire = result.wire
                    records = [
                        event_record(kafka, d, wire.get(d.payment_id)) for d in result.to_publish
                    ]
                    pending = [
                        await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
                        for r in records
                    ]
                    await asyncio.gather(*pending)
                    published = clock.lap("publish")
                    log.debug(
                        "risk batch: %d records, %d scored in %.1f ms, published in %.1f ms",
                        len(events),
                        len(batch),
                        result.elapsed_s * 1000,
                        published * 1000,
                    )
                    if result.to_publish:
                        # The flag only spares a replay from re-publishing (the same event id,
                        # which consumers drop), so it is not worth holding the batch for.
                        ids = [d.payment_id for d in result.to_publish]
                        task = asyncio.create_task(
                            asyncio.to_thread(scorer.redis.mark_published, ids)
                        )
                        marking.add(task)
                        task.add_done_callback(marking.discard)
                except asyncio.CancelledError:
                    log.warning("stopped mid-batch; exiting unacknowledged (re-read on restart)")
                    os._exit(75)
                except Exception:
                    log.critical(
                        "unrecoverable risk batch error; exiting unacknowledged", exc_info=True
                    )
                    os._exit(70)
        finally:
            await asyncio.gather(*marking, return_exceptions=True)
            await producer.stop()
            scorer.close()

    # Faust's decorators carry no type hints; the function below is fully typed.
    @app.timer(interval=risk.model_poll_s)  # type: ignore[untyped-decorator]
    async def follow_champion() -> None:
        scorer = state.get("scorer")
        if scorer is not None:
            await asyncio.to_thread(scorer.model.refresh)

    return app
