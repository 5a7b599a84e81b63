"""The day-window and merchant fraud-rate features: pure arithmetic, no services."""

from __future__ import annotations

import pytest

from paystream.contracts.fraud_features import (
    DAY_WINDOWS,
    FEATURES,
    DayWindows,
    FeatureInputs,
    MerchantFraud,
    Window,
    compute_features,
)

DAY_FEATURES = [
    "customer_count_7d",
    "customer_count_30d",
    *(f"customer_mean_amount_{d}d_major" for d in DAY_WINDOWS),
    *(f"amount_over_customer_mean_{d}d" for d in DAY_WINDOWS),
    *(f"merchant_fraud_rate_{d}d" for d in DAY_WINDOWS),
]


def inputs(**overrides) -> FeatureInputs:  # type: ignore[no-untyped-def]
    base = dict(
        amount_minor=30_000,
        currency="HKD",
        customer=Window(1, 1, 1, 30_000),
        card=None,
        device=None,
        customer_mean_minor=None,
        customer_prior_payments=0,
        customer_guest=None,
        new_device=None,
        new_country=None,
        foreign_country=None,
        merchant_refund_rate=None,
        merchant_category=None,
        graph=None,
    )
    base.update(overrides)
    return FeatureInputs(**base)


def test_every_day_feature_is_a_model_column():
    assert set(DAY_FEATURES) <= set(FEATURES)
    assert len(set(FEATURES)) == len(FEATURES)


def test_the_current_amount_is_set_against_the_mean_of_earlier_payments_per_window():
    days = DayWindows(
        count_7d=4, count_30d=9, prior_count=(1, 3, 8), prior_minor=(10_000, 30_000, 120_000)
    )
    vector = compute_features(inputs(customer_days=days))
    assert vector["customer_count_7d"] == 4.0
    assert vector["customer_count_30d"] == 9.0
    # HKD has two decimals: means in major units, ratios of minor units.
    assert vector["customer_mean_amount_1d_major"] == 100.0
    assert vector["customer_mean_amount_7d_major"] == 100.0
    assert vector["customer_mean_amount_30d_major"] == 150.0
    assert vector["amount_over_customer_mean_1d"] == 3.0
    assert vector["amount_over_customer_mean_30d"] == 2.0


def test_a_first_payment_has_counts_but_no_mean_to_compare_against():
    vector = compute_features(inputs(customer_days=DayWindows(count_7d=1, count_30d=1)))
    assert vector["customer_count_30d"] == 1.0
    for d in DAY_WINDOWS:
        assert vector[f"customer_mean_amount_{d}d_major"] is None
        assert vector[f"amount_over_customer_mean_{d}d"] is None


def test_merchant_fraud_rate_is_known_frauds_over_payments_and_missing_without_payments():
    shop = MerchantFraud(payments=(0, 40, 200), frauds=(0, 2, 5))
    vector = compute_features(inputs(merchant_fraud=shop))
    assert vector["merchant_fraud_rate_1d"] is None
    assert vector["merchant_fraud_rate_7d"] == pytest.approx(0.05)
    assert vector["merchant_fraud_rate_30d"] == pytest.approx(0.025)


def test_inputs_without_day_windows_leave_every_day_feature_missing():
    vector = compute_features(inputs())
    assert all(vector[name] is None for name in DAY_FEATURES)
