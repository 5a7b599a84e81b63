"""The fraud features: one definition, used by the stream scorer and by training.

The stream's risk agent gathers :class:`FeatureInputs` from Redis and the graph, turns them
into a :class:`FeatureVector` with :func:`compute_features`, and logs that exact vector with
its decision (``RiskDecided.features``). Training reads the logged vectors back and orders
them with :func:`to_row`, so the model is trained on what scoring saw, and the two cannot
drift apart: there is no second implementation of any feature.

This module is pure (no I/O) and cheap to import: the stream workers load it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paystream.money import currency_exponent

#: The day-long windows (days) of the customer's spending and the merchant's fraud rate.
DAY_WINDOWS: tuple[int, int, int] = (1, 7, 30)

#: Every model feature, in the column order the model is trained and scored with.
FEATURES: tuple[str, ...] = (
    "amount_major",
    "amount_over_customer_mean",
    "customer_count_1m",
    "customer_count_1h",
    "customer_count_24h",
    "customer_amount_1h_major",
    "card_count_1m",
    "card_count_1h",
    "card_count_24h",
    "card_mean_amount_1h_major",
    "device_count_1h",
    "device_count_24h",
    "customer_prior_payments",
    "customer_guest",
    "new_device",
    "new_country",
    "foreign_country",
    "merchant_refund_rate",
    "merchant_high_risk_category",
    "device_customers",
    "card_customers",
    "fraud_linked_customers",
    # Over days, as the Fraud Detection Handbook's windows: real fraud also shows slowly.
    "customer_count_7d",
    "customer_count_30d",
    *(f"customer_mean_amount_{d}d_major" for d in DAY_WINDOWS),
    *(f"amount_over_customer_mean_{d}d" for d in DAY_WINDOWS),
    *(f"merchant_fraud_rate_{d}d" for d in DAY_WINDOWS),
)
#: Features that come from the graph; ``None`` in all of them means the graph was unavailable.
GRAPH_FEATURES: tuple[str, ...] = ("device_customers", "card_customers", "fraud_linked_customers")
#: Merchant categories where card-not-present fraud concentrates.
HIGH_RISK_CATEGORIES = frozenset({"ecommerce", "services"})

FeatureVector = dict[str, float | None]


@dataclass(frozen=True)
class Window:
    """Authorizations of one customer, card or device up to and including this one; the
    amount counts those in the payment's own currency."""

    count_1m: int = 0
    count_1h: int = 0
    count_24h: int = 0
    amount_1h_minor: int = 0


@dataclass(frozen=True)
class DayWindows:
    """A customer's authorizations over days, up to and including this one.

    ``prior_count`` and ``prior_minor`` hold the *earlier* payments in this payment's
    currency and their sum over each of :data:`DAY_WINDOWS`: the mean the current amount is
    set against must not contain it.
    """

    count_7d: int = 0
    count_30d: int = 0
    prior_count: tuple[int, int, int] = (0, 0, 0)
    prior_minor: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class MerchantFraud:
    """The merchant's payments and known frauds over each of :data:`DAY_WINDOWS`.

    Both count payments authorized in the window that ends one label delay before the
    decision, and ``frauds`` only those whose chargeback had arrived by the decision's time:
    what a risk team knows then, never the future (the Handbook's delayed terminal risk).
    """

    payments: tuple[int, int, int] = (0, 0, 0)
    frauds: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class GraphView:
    """What the graph knows about the payer, the device and the card."""

    device_customers: int = 0
    card_customers: int = 0
    fraud_linked_customers: int = 0
    # Read from a cache whose projection is behind the payment (reason GRAPH_STALE); the
    # counts are still what was known, so they are used, but the decision says so.
    stale: bool = False


@dataclass(frozen=True)
class FeatureInputs:
    """Everything a decision needs, gathered before scoring.

    ``None`` means unknown: no history for the customer, no merchant profile yet, or (for
    ``graph``) the graph could not be asked in time.
    """

    amount_minor: int
    currency: str
    customer: Window
    card: Window | None
    device: Window | None
    customer_mean_minor: float | None
    customer_prior_payments: int
    customer_guest: bool | None
    new_device: bool | None
    new_country: bool | None
    foreign_country: bool | None
    merchant_refund_rate: float | None
    merchant_category: str | None
    graph: GraphView | None
    # None: not gathered (older callers, or a path without day windows): missing features.
    customer_days: DayWindows | None = None
    merchant_fraud: MerchantFraud | None = None


def first_sighting(first_ms: int | None, earliest_ms: int | None, at_ms: int) -> bool | None:
    """Whether a device or country is seen for the first time at ``at_ms``.

    ``first_ms`` is when the customer first used this one, ``earliest_ms`` when it first used
    any. "New" needs a past: a customer's very first device or country is not new, it is all
    there is (``None``). A replay sees the same minima, hence the same answer.
    """
    if first_ms is None or earliest_ms is None or earliest_ms >= at_ms:
        return None
    return first_ms >= at_ms


def country_signals(
    ip_country: str | None,
    home: str | None,
    first_ms: int | None,
    earliest_ms: int | None,
    at_ms: int,
) -> tuple[bool | None, bool | None]:
    """``(new_country, foreign_country)`` of a payment from ``ip_country``.

    A new country counts only abroad: coming home, or an unknown home, is not a new-country
    signal.
    """
    foreign = None if ip_country is None or home is None else ip_country != home
    new_country = first_sighting(first_ms, earliest_ms, at_ms)
    if new_country is not None and foreign is not True:
        new_country = False if foreign is False else None
    return new_country, foreign


def _major(amount_minor: float, currency: str) -> float:
    # A model feature, not money: the major-unit amount as a float is what the model expects.
    return float(amount_minor) / float(10 ** currency_exponent(currency))


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(value)


def compute_features(x: FeatureInputs) -> FeatureVector:
    """The feature vector of one authorization; ``None`` marks a missing feature."""
    card, device = x.card, x.device
    mean = x.customer_mean_minor
    card_mean = None
    if card is not None and card.count_1h:
        card_mean = _major(card.amount_1h_minor / card.count_1h, x.currency)
    vector: FeatureVector = {
        "amount_major": _major(x.amount_minor, x.currency),
        "amount_over_customer_mean": x.amount_minor / mean if mean else None,
        "customer_count_1m": float(x.customer.count_1m),
        "customer_count_1h": float(x.customer.count_1h),
        "customer_count_24h": float(x.customer.count_24h),
        "customer_amount_1h_major": _major(x.customer.amount_1h_minor, x.currency),
        "card_count_1m": None if card is None else float(card.count_1m),
        "card_count_1h": None if card is None else float(card.count_1h),
        "card_count_24h": None if card is None else float(card.count_24h),
        "card_mean_amount_1h_major": card_mean,
        "device_count_1h": None if device is None else float(device.count_1h),
        "device_count_24h": None if device is None else float(device.count_24h),
        "customer_prior_payments": float(x.customer_prior_payments),
        "customer_guest": _flag(x.customer_guest),
        "new_device": _flag(x.new_device),
        "new_country": _flag(x.new_country),
        "foreign_country": _flag(x.foreign_country),
        "merchant_refund_rate": x.merchant_refund_rate,
        "merchant_high_risk_category": (
            None
            if x.merchant_category is None
            else float(x.merchant_category in HIGH_RISK_CATEGORIES)
        ),
        "device_customers": None if x.graph is None else float(x.graph.device_customers),
        "card_customers": None if x.graph is None else float(x.graph.card_customers),
        "fraud_linked_customers": (
            None if x.graph is None else float(x.graph.fraud_linked_customers)
        ),
    }
    vector.update(_day_features(x))
    return vector


def _day_features(x: FeatureInputs) -> FeatureVector:
    days, shop = x.customer_days, x.merchant_fraud
    vector: FeatureVector = {
        "customer_count_7d": None if days is None else float(days.count_7d),
        "customer_count_30d": None if days is None else float(days.count_30d),
    }
    for i, d in enumerate(DAY_WINDOWS):
        mean = None
        if days is not None and days.prior_count[i]:
            mean = days.prior_minor[i] / days.prior_count[i]
        vector[f"customer_mean_amount_{d}d_major"] = (
            None if mean is None else _major(mean, x.currency)
        )
        # No earlier payment (or only free ones): no mean to compare against.
        vector[f"amount_over_customer_mean_{d}d"] = x.amount_minor / mean if mean else None
        paid = 0 if shop is None else shop.payments[i]
        vector[f"merchant_fraud_rate_{d}d"] = (
            shop.frauds[i] / paid if shop is not None and paid else None
        )
    return vector


def to_row(vector: Mapping[str, float | None]) -> list[float]:
    """The model's input row: :data:`FEATURES` in order, ``NaN`` for missing ones.

    Gradient-boosted trees route ``NaN`` down a learned branch, so a missing feature is
    information, not an error. Unknown keys are ignored (an older logged vector may lack a
    newer feature: it reads as missing).
    """
    row: list[float] = []
    for name in FEATURES:
        value = vector.get(name)
        row.append(math.nan if value is None else float(value))
    return row


def to_matrix(vectors: Sequence[Mapping[str, float | None]]) -> list[list[float]]:
    """Rows for many vectors, in :data:`FEATURES` order."""
    return [to_row(v) for v in vectors]
