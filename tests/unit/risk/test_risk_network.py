"""Cross-merchant (graph) evidence alone never declines: pure scoring, no services."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from paystream.contracts.events import Decision, PaymentAuthorized, event_id_for
from paystream.contracts.fraud_features import GraphView, Window
from paystream.contracts.fraud_rules import Reason
from paystream.money import Money
from paystream.settings import RiskSettings
from risk.lookup import LocalWindows, RedisFacts
from risk.scorer import RiskScorer

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def authorization() -> PaymentAuthorized:
    return PaymentAuthorized(
        event_id=event_id_for("network", 1),
        occurred_at=AT,
        payment_id="p1",
        customer_id="c1",
        merchant_id="m1",
        amount=Money(amount_minor=12_000, currency="HKD"),
        device_id="d1",
        card_fingerprint="ab" * 16,
    )


def facts(card: Window | None = None, local_card: Window | None = None) -> RedisFacts:
    ordinary = Window(count_1m=1, count_1h=1, count_24h=1, amount_1h_minor=12_000)
    return RedisFacts(
        customer=ordinary,
        card=card or ordinary,
        device=ordinary,
        local=LocalWindows(ordinary, local_card or ordinary, ordinary),
        customer_profile={"country": "Hong Kong", "guest": "0"},
        merchant_profile={"category": "retail"},
        device_first_seen_ms=None,
        country_first_seen_ms=None,
        earliest_device_ms=None,
        earliest_country_ms=None,
        stored={},
    )


def scorer() -> RiskScorer:
    rules_only = SimpleNamespace(current=None)
    return RiskScorer(None, None, rules_only, RiskSettings())  # type: ignore[arg-type]


def test_a_decline_resting_on_graph_evidence_alone_is_held_at_review():
    # Another merchant can link the card and device to flagged customers by posting
    # payments; alone, that may raise a review but never decline this merchant's customer.
    ring = GraphView(device_customers=4, card_customers=3, fraud_linked_customers=2)
    [decided] = scorer()._decide([(authorization(), facts(), ring)])
    assert decided.decision is Decision.REVIEW
    assert Reason.NETWORK_ONLY in decided.reasons
    assert {Reason.SHARED_CARD, Reason.FRAUD_LINKED} <= set(decided.reasons)


def test_a_card_burst_at_other_merchants_alone_is_held_at_review():
    # The card-testing burst happened elsewhere: this merchant saw the card once.
    burst = Window(count_1m=6, count_1h=12, count_24h=12, amount_1h_minor=12 * 1_000)
    [decided] = scorer()._decide([(authorization(), facts(card=burst), None)])
    assert decided.decision is Decision.REVIEW
    assert {Reason.CARD_TESTING, Reason.NETWORK_ONLY} <= set(decided.reasons)


def test_a_decline_this_merchant_s_own_evidence_supports_stands():
    burst = Window(count_1m=6, count_1h=12, count_24h=12, amount_1h_minor=12 * 1_000)
    ring = GraphView(device_customers=4, card_customers=3, fraud_linked_customers=2)
    [decided] = scorer()._decide([(authorization(), facts(burst, burst), ring)])
    assert decided.decision is Decision.DECLINE
    assert Reason.NETWORK_ONLY not in decided.reasons
