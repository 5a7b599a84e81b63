"""Rules, decisions and the model holder: pure logic, no services."""

from __future__ import annotations

import math

import pytest

from paystream.contracts.events import Decision
from paystream.contracts.fraud_features import (
    FEATURES,
    FeatureInputs,
    GraphView,
    Window,
    compute_features,
    to_row,
)
from paystream.contracts.fraud_rules import Reason, decide, evaluate_rules, most_severe
from paystream.stores.fraud_model import FraudModel
from risk.model import LOAD_FAILED, ModelHolder


def inputs(**overrides) -> FeatureInputs:
    base = dict(
        amount_minor=12_000,
        currency="HKD",
        customer=Window(count_1m=1, count_1h=1, count_24h=2, amount_1h_minor=12_000),
        card=Window(count_1m=1, count_1h=1, count_24h=2, amount_1h_minor=12_000),
        device=Window(count_1m=1, count_1h=1, count_24h=2),
        customer_mean_minor=10_000.0,
        customer_prior_payments=8,
        customer_guest=False,
        new_device=False,
        new_country=False,
        foreign_country=False,
        merchant_refund_rate=0.02,
        merchant_category="retail",
        graph=GraphView(device_customers=1, card_customers=1, fraud_linked_customers=0),
    )
    base.update(overrides)
    return FeatureInputs(**base)


def test_an_ordinary_payment_trips_no_rule_and_is_approved():
    outcome = evaluate_rules(compute_features(inputs()))
    assert outcome.reasons == ()
    assert outcome.degraded == ()
    assert decide(outcome.score, 0.5, 0.85) is Decision.APPROVE


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"card": Window(count_1m=4, count_1h=12, count_24h=12, amount_1h_minor=12 * 900)},
            Reason.CARD_TESTING,
        ),
        (
            {"customer": Window(count_1m=1, count_1h=7, count_24h=7, amount_1h_minor=1)},
            Reason.VELOCITY,
        ),
        (
            {"new_device": True, "new_country": True, "foreign_country": True},
            Reason.NEW_DEVICE_NEW_COUNTRY,
        ),
        ({"graph": GraphView(device_customers=4, card_customers=1)}, Reason.SHARED_DEVICE),
        ({"graph": GraphView(device_customers=1, card_customers=3)}, Reason.SHARED_CARD),
        ({"graph": GraphView(1, 1, fraud_linked_customers=2)}, Reason.FRAUD_LINKED),
        ({"amount_minor": 80_000}, Reason.AMOUNT_ANOMALY),
    ],
)
def test_each_fraud_signal_raises_its_reason_code(overrides, reason):
    outcome = evaluate_rules(compute_features(inputs(**overrides)))
    assert reason in outcome.reasons
    assert outcome.score > 0


def test_two_signals_score_higher_than_either_alone():
    one = evaluate_rules(compute_features(inputs(graph=GraphView(1, 3, 0)))).score
    two = evaluate_rules(
        compute_features(inputs(graph=GraphView(1, 3, 0), new_device=True, new_country=True))
    ).score
    assert 0 < one < two <= 1


def test_missing_graph_and_history_are_decided_and_flagged_as_degraded():
    vector = compute_features(
        inputs(
            graph=None,
            customer=Window(count_1m=1, count_1h=1, count_24h=1, amount_1h_minor=1),
            customer_prior_payments=0,
            customer_mean_minor=None,
        )
    )
    outcome = evaluate_rules(vector)
    assert set(outcome.degraded) == {Reason.GRAPH_UNAVAILABLE, Reason.NO_HISTORY}
    assert all(vector[name] is None for name in ("device_customers", "card_customers"))


def test_the_model_row_follows_the_feature_order_with_nan_for_missing():
    vector = compute_features(inputs(graph=None))
    row = to_row(vector)
    assert len(row) == len(FEATURES)
    assert math.isnan(row[FEATURES.index("card_customers")])
    assert row[FEATURES.index("amount_major")] == 120.0


def test_amounts_use_the_currency_exponent():
    assert compute_features(inputs(amount_minor=500, currency="JPY"))["amount_major"] == 500.0
    assert compute_features(inputs(amount_minor=500, currency="GBP"))["amount_major"] == 5.0


def test_the_strictest_decision_wins():
    assert most_severe(Decision.APPROVE, Decision.DECLINE, Decision.REVIEW) is Decision.DECLINE
    assert decide(0.9, 0.5, 0.85) is Decision.DECLINE
    assert decide(0.6, 0.5, 0.85) is Decision.REVIEW


class _Constant:
    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, rows):
        import numpy as np

        return np.array([[1 - self.p, self.p] for _ in rows])


def test_a_moved_alias_swaps_the_model_and_a_broken_version_keeps_the_previous_one():
    champion = {"version": "1"}
    broken = {"3"}

    def loader(name: str, version: str) -> FraudModel:
        if version in broken:
            raise OSError("artifact missing")
        return FraudModel(name, version, _Constant(0.1 * int(version)), 0.5, 0.9)

    holder = ModelHolder("m", loader, lambda: champion["version"])
    assert holder.refresh() is True
    assert holder.current is not None and holder.current.version == "1"
    assert holder.refresh() is False  # nothing moved
    champion["version"] = "2"
    assert holder.refresh() is True
    assert holder.current.score([[0.0]]) == [pytest.approx(0.2)]
    champion["version"] = "3"
    assert holder.refresh() is False
    assert holder.current.version == "2"
    assert LOAD_FAILED._value.get() == 1
    champion["version"] = "4"
    assert holder.refresh() is True
    assert LOAD_FAILED._value.get() == 0


def test_an_unreachable_registry_keeps_scoring_with_the_current_model():
    def champion() -> str:
        raise ConnectionError("registry down")

    holder = ModelHolder("m", lambda n, v: FraudModel(n, v, _Constant(0.5), 0.5, 0.9), champion)
    assert holder.refresh() is False
    assert holder.current is None
