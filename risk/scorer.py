"""Scoring a batch of authorizations: features, rules, model, decision.

A payment that already has a decision (a replayed stretch of the log) keeps it: the stored
decision is re-published if it never reached the topic, and skipped if it did. Decisions are
therefore made once per payment, and the decisions topic carries one per payment except
across a crash between publishing and recording the publication, where the repeat has the
same event id and every consumer drops it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

from paystream.contracts.events import Decision, PaymentAuthorized, RiskDecided, event_id_for
from paystream.contracts.fraud_features import (
    FeatureInputs,
    GraphView,
    compute_features,
    country_signals,
    first_sighting,
    to_matrix,
)
from paystream.contracts.fraud_rules import Reason, decide, evaluate_rules, most_severe
from paystream.contracts.served import StoredDecision
from paystream.settings import RiskSettings
from paystream.stores.fraud_model import FraudModel
from paystream.stores.progress import reached
from paystream.stores.redis import epoch_ms
from risk.graph_cache import CachedGraph
from risk.graph_gremlin import RiskGraph
from risk.lookup import RedisFacts, RiskRedis
from risk.model import ModelHolder
from risk.stages import StageClock

log = logging.getLogger(__name__)

DECISIONS = Counter("paystream_risk_decisions_total", "Risk decisions made", ["decision"])
DEGRADED = Counter(
    "paystream_risk_degraded_total", "Decisions made without some features", ["reason"]
)
GRAPH_MISSES = Counter("paystream_risk_graph_misses_total", "Batches decided without the graph")
SCORE_SECONDS = Histogram(
    "paystream_risk_batch_seconds",
    "Time to score one batch (lookups, rules, model, Redis write)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


@dataclass
class ScoredBatch:
    """What one batch produced."""

    to_publish: list[RiskDecided] = field(default_factory=list)
    decided: int = 0
    republished: int = 0
    already_published: int = 0
    # Seconds spent inside :meth:`RiskScorer.score` (the agent times the thread hop around it).
    elapsed_s: float = 0.0
    # Each decision's wire form by payment id, serialized once for Redis and the topic.
    wire: dict[str, bytes] = field(default_factory=dict)
    # Nothing decided: the state projection is behind these payments (``score(patient=True)``).
    behind: bool = False
    # When behind, the projection's progress as read: the caller waits while it moves.
    progress: tuple[Any, ...] = ()


def feature_inputs(
    e: PaymentAuthorized, facts: RedisFacts, graph: GraphView | None, *, local: bool = False
) -> FeatureInputs:
    """Assemble one authorization's feature inputs from what Redis and the graph returned.

    With ``local`` the windows are the paying merchant's own, not every merchant's.
    """
    windows = facts.local if local else facts
    currency, at = e.amount.currency, epoch_ms(e.occurred_at)
    # The customer's earlier payments, read in event time from its own history (which this
    # agent writes in order), not from the projected totals: a history imported at any speed
    # then reads what was true at each payment, as the offline features do.
    earlier = facts.earlier
    mean = earlier.in_currency_minor / earlier.in_currency if earlier.in_currency else None
    home = facts.customer_profile.get("country")
    guest = facts.customer_profile.get("guest")
    new_device = first_sighting(facts.device_first_seen_ms, facts.earliest_device_ms, at)
    new_country, foreign = country_signals(
        e.ip_country, home, facts.country_first_seen_ms, facts.earliest_country_ms, at
    )
    paid_30d, refunded_30d = facts.merchant_refunds
    return FeatureInputs(
        amount_minor=e.amount.amount_minor,
        currency=currency,
        customer=windows.customer,
        card=windows.card,
        device=windows.device,
        customer_mean_minor=mean,
        customer_prior_payments=earlier.count,
        customer_guest=None if guest is None else guest == "1",
        new_device=new_device,
        new_country=new_country,
        foreign_country=foreign,
        merchant_refund_rate=refunded_30d / paid_30d if paid_30d else None,
        merchant_category=facts.merchant_profile.get("category"),
        graph=graph,
        customer_days=windows.customer_days,
        # The merchant's own payments and chargebacks: the same evidence in either view.
        merchant_fraud=facts.merchant_fraud,
    )


class RiskScorer:
    """Decides batches of authorizations; thread-compatible, one batch at a time."""

    def __init__(
        self,
        redis_side: RiskRedis,
        graph_side: CachedGraph | RiskGraph | None,
        model: ModelHolder,
        settings: RiskSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.redis = redis_side
        self.graph = graph_side
        self.model = model
        self.settings = settings
        self.clock = clock
        self._graph_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="risk-graph")

    def _graph_views(
        self, events: Sequence[PaymentAuthorized]
    ) -> Callable[[Sequence[RedisFacts]], list[GraphView] | None]:
        if isinstance(self.graph, CachedGraph):
            # Read in the feature pipeline; at most one more round trip for other links.
            return self.graph.views
        if self.graph is None:
            return lambda facts: None
        graph = self.graph
        script, bindings = graph.request(events)
        future = self._graph_pool.submit(graph.read, script, bindings)

        def wait(facts: Sequence[RedisFacts]) -> list[GraphView] | None:
            try:
                rows = future.result(timeout=self.settings.graph_timeout_ms / 1000)
            except FutureTimeout:
                GRAPH_MISSES.inc()
                log.debug("graph missed its %d ms budget", self.settings.graph_timeout_ms)
                return None
            except Exception as exc:  # a graph outage degrades decisions, never stops them
                GRAPH_MISSES.inc()
                log.warning("graph features unavailable: %s", exc)
                return None
            return graph.views(events, rows)

        return wait

    def score(
        self,
        batch: Sequence[PaymentAuthorized],
        patient: bool = False,
        ends: Mapping[str, int] | None = None,
    ) -> ScoredBatch:
        """Decide every authorization in the batch and store the decisions in Redis.

        With ``patient``, a batch that the state projection has not reached yet (in event
        time) is left undecided, ``behind`` set: the caller waits and scores it again. The
        features' writes are idempotent, so gathering twice counts nothing twice.
        """
        clock = StageClock()
        unique = list({e.payment_id: e for e in reversed(batch)}.values())[::-1]
        graph_wait = self._graph_views(unique)
        facts = self.redis.gather(unique)
        clock.lap("features")
        if patient and self._projection_behind(unique, facts, ends):
            seen = tuple(sorted(facts[0].progress.items())) if facts else ()
            return ScoredBatch(behind=True, elapsed_s=clock.elapsed_s, progress=seen)
        views = graph_wait(facts)
        clock.lap("graph")
        result = ScoredBatch()
        fresh: list[tuple[PaymentAuthorized, RedisFacts, GraphView | None]] = []
        for i, (e, f) in enumerate(zip(unique, facts, strict=True)):
            if "event" in f.stored:
                if f.stored.get("published") == "1":
                    result.already_published += 1
                else:
                    result.to_publish.append(RiskDecided.model_validate_json(f.stored["event"]))
                    result.wire[e.payment_id] = f.stored["event"].encode()
                    result.republished += 1
                continue
            fresh.append((e, f, None if views is None else views[i]))
        decisions = self._decide(fresh)
        clock.lap("decide")
        if decisions:
            rows = []
            for d in decisions:
                wire = d.model_dump_json()
                result.wire[d.payment_id] = wire.encode()
                rows.append((_stored_fields(d, wire), d.payment_id))
            self.redis.store(rows, self.settings.decision_ttl_s)
        clock.lap("store")
        result.to_publish.extend(decisions)
        result.decided = len(decisions)
        result.elapsed_s = clock.elapsed_s
        SCORE_SECONDS.observe(result.elapsed_s)
        return result

    def is_history(self, events: Sequence[PaymentAuthorized]) -> bool:
        """Whether a batch is history: all of it older than the live bound of the wall clock.

        Only history waits for the projection: a live payment is never held, so an outage of
        the projection or a client clock running ahead cannot slow live decisions.
        """
        tolerance_ms = self.settings.graph_stale_after_s * 1000
        newest = max((epoch_ms(e.occurred_at) for e in events), default=None)
        return newest is not None and newest <= epoch_ms(self.clock()) - tolerance_ms

    def _projection_behind(
        self,
        events: Sequence[PaymentAuthorized],
        facts: Sequence[RedisFacts],
        ends: Mapping[str, int] | None,
    ) -> bool:
        """Whether a historical batch is ahead of the state projection in event time.

        With ``ends`` (per source partition, the offset where the events produced before the
        batch end) the test is per partition (:func:`paystream.stores.progress.reached`);
        without, it falls back to the newest event time the projection wrote from every
        topic, within the stale bound.
        """
        if not self.is_history(events):
            return False
        newest = max(epoch_ms(e.occurred_at) for e in events)
        if ends is not None:
            return not reached(facts[0].progress, ends)
        mark = facts[0].graph_mark_ms
        return mark is None or newest > mark + self.settings.graph_stale_after_s * 1000

    def _verdict(self, rules_score: float, p: float | None, model: FraudModel | None) -> Decision:
        # The decision the rules' score and the model's probability ``p`` earn together.
        s = self.settings
        decision = decide(rules_score, s.review_threshold, s.decline_threshold)
        if model is not None and p is not None:
            decision = most_severe(
                decision, decide(p, model.review_threshold, model.decline_threshold)
            )
        return decision

    def _decide(
        self, fresh: Sequence[tuple[PaymentAuthorized, RedisFacts, GraphView | None]]
    ) -> list[RiskDecided]:
        if not fresh:
            return []
        vectors = [compute_features(feature_inputs(e, f, g)) for e, f, g in fresh]
        model = self.model.current
        probabilities = model.score(to_matrix(vectors)) if model else [None] * len(fresh)
        now = self.clock()
        decisions: list[RiskDecided] = []
        for (e, f, g), vector, p in zip(fresh, vectors, probabilities, strict=True):
            rules = evaluate_rules(vector)
            decision = self._verdict(rules.score, p, model)
            reasons = list(rules.reasons)
            if model is not None and p is not None:
                if p >= model.review_threshold:
                    reasons.append(Reason.MODEL_HIGH_SCORE)
            else:
                reasons.append(Reason.RULES_ONLY)
            if decision is Decision.DECLINE and not self._declines_locally(e, f, g, model):
                decision = Decision.REVIEW
                reasons.append(Reason.NETWORK_ONLY)
            degraded = list(rules.degraded)
            if g is not None and g.stale:
                degraded.append(Reason.GRAPH_STALE)
            reasons.extend(degraded)
            for code in degraded:
                DEGRADED.labels(code).inc()
            DECISIONS.labels(str(decision)).inc()
            decisions.append(
                RiskDecided(
                    event_id=event_id_for("risk.decided", e.event_id),
                    occurred_at=now,
                    authorization_event_id=e.event_id,
                    payment_id=e.payment_id,
                    customer_id=e.customer_id,
                    merchant_id=e.merchant_id,
                    amount=e.amount,
                    card_fingerprint=e.card_fingerprint,
                    decision=decision,
                    score=p if p is not None else rules.score,
                    rules_score=rules.score,
                    reasons=reasons,
                    model_version=model.version if model else None,
                    degraded=bool(degraded),
                    features=vector,
                    authorized_at=e.occurred_at,
                )
            )
        return decisions

    def _declines_locally(
        self,
        e: PaymentAuthorized,
        facts: RedisFacts,
        graph: GraphView | None,
        model: FraudModel | None,
    ) -> bool:
        """Whether the payment is declined on this merchant's own evidence alone.

        Any merchant may post payments naming any customer, card or device. So the windows
        across merchants and the graph's links are evidence one merchant could forge against
        another's customers. A decline must also hold on the merchant's own windows, with the
        graph showing no one but the payer; otherwise it is held at review (docs/risk.md).
        """
        alone = None
        if graph is not None:
            alone = GraphView(
                device_customers=1 if e.device_id else 0,
                card_customers=1 if e.card_fingerprint else 0,
                fraud_linked_customers=0,
            )
        local = compute_features(feature_inputs(e, facts, alone, local=True))
        p = model.score(to_matrix([local]))[0] if model is not None else None
        return self._verdict(evaluate_rules(local).score, p, model) is Decision.DECLINE

    def close(self) -> None:
        """Stop the graph lookup thread."""
        self._graph_pool.shutdown(wait=False, cancel_futures=True)


def _stored_fields(d: RiskDecided, wire: str) -> dict[str, str]:
    view = StoredDecision(
        payment_id=d.payment_id,
        customer_id=d.customer_id,
        merchant_id=d.merchant_id,
        decision=str(d.decision),
        score=d.score,
        reasons=list(d.reasons),
        model_version=d.model_version,
        degraded=d.degraded,
        event_id=str(d.event_id),
        authorized_at=d.authorized_at,
        decided_at=d.occurred_at,
    )
    return {**view.to_hash(), "event": wire}
