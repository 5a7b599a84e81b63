"""Fraud rules: readable, explainable signals with reason codes (shared by the risk agent, the
offline features and the backtests).

Each rule reads the shared feature vector (:mod:`paystream.contracts.fraud_features`), so the
rules, the model and training all see the same numbers. A hit contributes its weight; the rules
score combines
hits as independent evidence, ``1 - prod(1 - w)``, so it stays in [0, 1] and two medium
signals outrank one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paystream.contracts.events import Decision
from paystream.contracts.fraud_features import GRAPH_FEATURES, FeatureVector


class Reason:
    """Every reason code a decision can carry."""

    CARD_TESTING = "CARD_TESTING"
    VELOCITY = "VELOCITY"
    NEW_DEVICE_NEW_COUNTRY = "NEW_DEVICE_NEW_COUNTRY"
    SHARED_DEVICE = "SHARED_DEVICE"
    SHARED_CARD = "SHARED_CARD"
    FRAUD_LINKED = "FRAUD_LINKED"
    AMOUNT_ANOMALY = "AMOUNT_ANOMALY"
    HIGH_RISK_MERCHANT = "HIGH_RISK_MERCHANT"
    MODEL_HIGH_SCORE = "MODEL_HIGH_SCORE"
    # A decline that rested on cross-merchant (graph) evidence alone, held at review.
    NETWORK_ONLY = "NETWORK_ONLY"
    # Degraded or partial decisions: still decided, and saying why they are partial.
    NO_HISTORY = "NO_HISTORY"
    GRAPH_UNAVAILABLE = "GRAPH_UNAVAILABLE"
    GRAPH_STALE = "GRAPH_STALE"
    RULES_ONLY = "RULES_ONLY"


# A card-testing attempt is a burst of small amounts: "small" is this many major units.
SMALL_MAJOR_UNITS = 50.0


def _at_least(name: str, threshold: float) -> Callable[[FeatureVector], bool]:
    def test(v: FeatureVector) -> bool:
        value = v.get(name)
        return value is not None and value >= threshold

    return test


def _card_testing(v: FeatureVector) -> bool:
    count, mean = v.get("card_count_1h"), v.get("card_mean_amount_1h_major")
    # A single-currency mean in major units: "small" is comparable across HKD, GBP and JPY
    # only roughly, which is fine for a signal whose strength is the burst itself.
    return count is not None and count >= 5 and mean is not None and mean <= SMALL_MAJOR_UNITS


def _velocity(v: FeatureVector) -> bool:
    return _at_least("customer_count_1h", 6)(v) or _at_least("customer_count_1m", 3)(v)


def _new_device_new_country(v: FeatureVector) -> bool:
    return v.get("new_device") == 1.0 and v.get("new_country") == 1.0


def _amount_anomaly(v: FeatureVector) -> bool:
    return _at_least("amount_over_customer_mean", 5.0)(v) and _at_least(
        "customer_prior_payments", 3
    )(v)


@dataclass(frozen=True)
class Rule:
    """One rule: its reason code, its weight as evidence, and its test."""

    reason: str
    weight: float
    test: Callable[[FeatureVector], bool]


RULES: tuple[Rule, ...] = (
    Rule(Reason.CARD_TESTING, 0.9, _card_testing),
    Rule(Reason.VELOCITY, 0.7, _velocity),
    Rule(Reason.NEW_DEVICE_NEW_COUNTRY, 0.6, _new_device_new_country),
    Rule(Reason.SHARED_CARD, 0.6, _at_least("card_customers", 2)),
    Rule(Reason.SHARED_DEVICE, 0.5, _at_least("device_customers", 3)),
    Rule(Reason.FRAUD_LINKED, 0.7, _at_least("fraud_linked_customers", 1)),
    Rule(Reason.AMOUNT_ANOMALY, 0.4, _amount_anomaly),
    Rule(Reason.HIGH_RISK_MERCHANT, 0.1, _at_least("merchant_refund_rate", 0.2)),
)


@dataclass(frozen=True)
class RulesOutcome:
    """The rules' view of one authorization."""

    score: float
    reasons: tuple[str, ...]
    degraded: tuple[str, ...]


def evaluate_rules(vector: FeatureVector) -> RulesOutcome:
    """Apply every rule to a feature vector."""
    reasons = tuple(rule.reason for rule in RULES if rule.test(vector))
    keep = 1.0
    for rule in RULES:
        if rule.reason in reasons:
            keep *= 1.0 - rule.weight
    degraded: list[str] = []
    if all(vector.get(name) is None for name in GRAPH_FEATURES):
        degraded.append(Reason.GRAPH_UNAVAILABLE)
    # The current payment is in the 24 h count: 1 means nothing before it.
    if vector.get("customer_prior_payments") == 0 and (vector.get("customer_count_24h") or 0) <= 1:
        degraded.append(Reason.NO_HISTORY)
    return RulesOutcome(round(1.0 - keep, 6), reasons, tuple(degraded))


SEVERITY = {Decision.APPROVE: 0, Decision.REVIEW: 1, Decision.DECLINE: 2}


def decide(score: float, review_threshold: float, decline_threshold: float) -> Decision:
    """The decision a score earns under two thresholds."""
    if score >= decline_threshold:
        return Decision.DECLINE
    if score >= review_threshold:
        return Decision.REVIEW
    return Decision.APPROVE


def most_severe(*decisions: Decision) -> Decision:
    """The strictest of several decisions."""
    return max(decisions, key=SEVERITY.__getitem__)
