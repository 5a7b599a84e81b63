"""The synthetic generator: determinism, order, valid contracts and the injected fraud."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from cli.main import app
from ingest.simulator.generator import (
    FRAUD_PATTERNS,
    FraudLabel,
    SimulationConfig,
    simulate,
)
from ingest.simulator.run import SimulationSummary
from paystream.contracts.events import (
    BookingMade,
    CustomerRegistered,
    Event,
    MerchantRegistered,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundIssued,
    RefundReason,
    SessionEnded,
    SessionStarted,
    parse_event,
)
from paystream.money import format_minor_units

Pairs = list[tuple[Event, FraudLabel | None]]
Labels = dict[str, FraudLabel]
E = TypeVar("E", bound=Event)
CONFIG = SimulationConfig(
    seed=11,
    customers=150,
    merchants=20,
    days=6,
    compromised_merchants_per_day=0.2,
    account_takeovers_per_day=2.0,
    compromise_days=4,
)


@pytest.fixture(scope="module")
def pairs() -> Pairs:
    return list(simulate(CONFIG))


@pytest.fixture(scope="module")
def events(pairs: Pairs) -> list[Event]:
    return [event for event, _ in pairs]


@pytest.fixture(scope="module")
def labels(pairs: Pairs) -> Labels:
    return {label.payment_id: label for _, label in pairs if label is not None}


def of_type(events: list[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def by_pattern(labels: Labels, pattern: str) -> list[FraudLabel]:
    return [label for label in labels.values() if label.pattern == pattern]


def auths_by_id(events: list[Event]) -> dict[str, PaymentAuthorized]:
    return {e.payment_id: e for e in of_type(events, PaymentAuthorized)}


# --- determinism and order ---------------------------------------------------------------


def test_same_seed_gives_the_same_events_and_ids(events: list[Event]) -> None:
    again = [event for event, _ in simulate(CONFIG)]
    assert [e.event_id for e in again] == [e.event_id for e in events]
    assert [e.to_bytes() for e in again] == [e.to_bytes() for e in events]


def test_different_seeds_differ(events: list[Event]) -> None:
    other = [event for event, _ in simulate(SimulationConfig(seed=12, customers=150, days=6))]
    assert {e.event_id for e in other}.isdisjoint({e.event_id for e in events})
    assert [e.occurred_at for e in other[:200]] != [e.occurred_at for e in events[:200]]


def test_event_ids_are_unique(events: list[Event]) -> None:
    assert len({e.event_id for e in events}) == len(events)


def test_events_are_in_time_order(events: list[Event]) -> None:
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    assert times[0] == CONFIG.start


def test_every_event_round_trips_through_its_contract(events: list[Event]) -> None:
    for event in events:
        assert parse_event(event.to_bytes()) == event


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        SimulationConfig(seed=1, customers=0)
    with pytest.raises(ValueError, match="rates and counts >= 0"):
        SimulationConfig(seed=1, card_testing_per_day=-1)


# --- normal traffic ----------------------------------------------------------------------


def test_merchants_cover_categories_and_currency_exponents(events: list[Event]) -> None:
    merchants = of_type(events, MerchantRegistered)
    assert len(merchants) == CONFIG.merchants
    assert {"retail", "ecommerce", "hotel", "car_rental"} <= {m.category for m in merchants}
    assert {m.settlement_currency for m in merchants} == {"HKD", "GBP", "JPY"}


def test_customers_register_with_a_hashed_email_only(events: list[Event]) -> None:
    customers = of_type(events, CustomerRegistered)
    assert len(customers) > CONFIG.customers  # plus the fraudsters' own accounts
    assert all(c.email_sha256 is not None and len(c.email_sha256) == 64 for c in customers)
    assert not any(b"@" in e.to_bytes() for e in events)


def test_customers_are_registered_before_they_act(events: list[Event]) -> None:
    registered: set[str] = set()
    for event in events:
        if isinstance(event, CustomerRegistered):
            registered.add(event.customer_id)
        elif (customer_id := getattr(event, "customer_id", None)) is not None:
            assert customer_id in registered, event


def test_sessions_start_and_end_in_pairs(events: list[Event]) -> None:
    started = {s.session_id: s for s in of_type(events, SessionStarted)}
    ended = of_type(events, SessionEnded)
    assert sorted(e.session_id for e in ended) == sorted(started)
    assert all(e.occurred_at > started[e.session_id].occurred_at for e in ended)
    assert {s.channel for s in started.values()} == {"ios", "android", "web"}


def test_every_authorization_has_one_outcome(events: list[Event]) -> None:
    auths = auths_by_id(events)
    outcomes = [e.payment_id for e in events if isinstance(e, PaymentCaptured | PaymentFailed)]
    assert sorted(outcomes) == sorted(auths)
    assert of_type(events, PaymentFailed), "some payments fail"


def test_order_totals_are_the_sum_of_their_lines(events: list[Event]) -> None:
    orders = of_type(events, OrderPlaced)
    assert orders
    for order in orders:
        assert order.total.amount_minor == sum(line.amount_minor for line in order.lines)
    paid = {a.order_id: a for a in of_type(events, PaymentAuthorized) if a.order_id}
    assert all(paid[o.order_id].amount == o.total for o in orders if o.order_id in paid)


def test_bookings_are_made_then_paid_at_hotels_and_car_rentals(events: list[Event]) -> None:
    categories = {m.merchant_id: m.category for m in of_type(events, MerchantRegistered)}
    bookings = {b.booking_id: b for b in of_type(events, BookingMade)}
    assert bookings
    assert {categories[b.merchant_id] for b in bookings.values()} <= {"hotel", "car_rental"}
    payments = [a for a in of_type(events, PaymentAuthorized) if a.booking_id]
    assert {a.booking_id for a in payments} == set(bookings)
    for payment in payments:
        booking = bookings[payment.booking_id or ""]
        assert booking.occurred_at < payment.occurred_at
        assert booking.amount == payment.amount


def test_customer_refunds_name_the_payment_and_line(events: list[Event]) -> None:
    auths = auths_by_id(events)
    refunds = [
        r for r in of_type(events, RefundIssued) if r.reason is RefundReason.CUSTOMER_REQUEST
    ]
    assert refunds
    for refund in refunds:
        assert refund.payment_id in auths
        assert refund.amount.amount_minor == sum(line.amount_minor for line in refund.lines)
        assert refund.amount.amount_minor <= auths[refund.payment_id].amount.amount_minor


def test_regular_customers_keep_one_or_two_cards(events: list[Event], labels: Labels) -> None:
    cards: dict[str, set[str]] = defaultdict(set)
    for auth in of_type(events, PaymentAuthorized):
        if auth.payment_id not in labels and auth.card_fingerprint:
            assert len(auth.card_fingerprint) == 32
            cards[auth.customer_id].add(auth.card_fingerprint)
    assert cards
    assert all(1 <= len(fingerprints) <= 2 for fingerprints in cards.values())


# --- money -------------------------------------------------------------------------------


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


def test_amounts_are_integer_minor_units_never_floats(events: list[Event]) -> None:
    for event in events:
        money = getattr(event, "amount", None) or getattr(event, "total", None)
        if money is not None:
            assert type(money.amount_minor) is int
            assert money.amount_minor > 0
        assert _floats(json.loads(event.to_bytes())) == []


def test_jpy_amounts_are_whole_yen(events: list[Event]) -> None:
    jpy = [a for a in of_type(events, PaymentAuthorized) if a.amount.currency == "JPY"]
    assert jpy
    for auth in jpy:
        assert type(auth.amount.amount_minor) is int
        assert format_minor_units(auth.amount.amount_minor, "JPY") == str(auth.amount.amount_minor)
    gbp = [a for a in of_type(events, PaymentAuthorized) if a.amount.currency == "GBP"]
    assert gbp


# --- fraud -------------------------------------------------------------------------------


def test_every_pattern_is_labelled_on_its_authorizations(pairs: Pairs) -> None:
    seen = set()
    for event, label in pairs:
        if label is None:
            continue
        assert isinstance(event, PaymentAuthorized)
        assert label.payment_id == event.payment_id
        assert label.customer_id == event.customer_id
        assert label.card_fingerprint == event.card_fingerprint
        assert label.occurred_at == event.occurred_at
        seen.add(label.pattern)
    assert seen == set(FRAUD_PATTERNS)


def test_card_testing_is_a_fast_burst_on_one_new_card(events: list[Event], labels: Labels) -> None:
    auths = auths_by_id(events)
    bursts: dict[str, list[PaymentAuthorized]] = defaultdict(list)
    for label in by_pattern(labels, "card_testing"):
        bursts[label.card_fingerprint or ""].append(auths[label.payment_id])
    normal_cards = {a.card_fingerprint for a in auths.values() if a.payment_id not in labels}
    failed = of_type(events, PaymentFailed)
    declined = {e.payment_id for e in failed if e.failure_code == "card_declined"}
    for card, burst in bursts.items():
        assert card not in normal_cards
        assert 10 <= len(burst) <= 30
        assert burst[-1].occurred_at - burst[0].occurred_at <= timedelta(minutes=4)
        assert len({a.merchant_id for a in burst}) == 1
        assert len({a.customer_id for a in burst}) == 1
        assert sum(a.payment_id in declined for a in burst) >= len(burst) // 3


def test_card_testing_amounts_are_small(events: list[Event], labels: Labels) -> None:
    auths = auths_by_id(events)
    # At most HKD 20.90 (or its GBP/JPY equivalent): what card testers use to probe a card.
    ceiling = {"HKD": 2090, "GBP": 209, "JPY": 418}
    for label in by_pattern(labels, "card_testing"):
        amount = auths[label.payment_id].amount
        assert amount.amount_minor <= ceiling[amount.currency]


def test_velocity_attack_is_many_payments_in_ten_minutes(
    events: list[Event], labels: Labels
) -> None:
    auths = auths_by_id(events)
    attacks: dict[str, list[PaymentAuthorized]] = defaultdict(list)
    for label in by_pattern(labels, "velocity_attack"):
        attacks[label.customer_id].append(auths[label.payment_id])
    assert attacks
    for attack in attacks.values():
        # A customer may be attacked twice; check the first window.
        window = [a for a in attack if a.occurred_at - attack[0].occurred_at <= timedelta(hours=1)]
        assert 8 <= len(window) <= 15
        assert window[-1].occurred_at - window[0].occurred_at <= timedelta(minutes=10)
        assert len({a.merchant_id for a in window}) >= 3


def test_new_device_new_country_is_unseen_device_abroad(
    events: list[Event], labels: Labels
) -> None:
    home = {c.customer_id: c.country for c in of_type(events, CustomerRegistered)}
    auths = auths_by_id(events)
    own_devices: dict[str, set[str | None]] = defaultdict(set)
    for auth in auths.values():
        if auth.payment_id not in labels:
            own_devices[auth.customer_id].add(auth.device_id)
    # Large: HKD 1,500 and up, or its GBP/JPY equivalent.
    floor = {"HKD": 150_000, "GBP": 15_000, "JPY": 30_000}
    frauds = [auths[label.payment_id] for label in by_pattern(labels, "new_device_new_country")]
    assert frauds
    for auth in frauds:
        assert auth.device_id not in own_devices[auth.customer_id]
        assert auth.ip_country != home[auth.customer_id]
        assert auth.amount.amount_minor >= floor[auth.amount.currency]


def test_fraud_ring_shares_devices_and_cards(events: list[Event], labels: Labels) -> None:
    auths = auths_by_id(events)
    ring = [auths[label.payment_id] for label in by_pattern(labels, "fraud_ring")]
    members = {a.customer_id for a in ring}
    assert 5 <= len(members) <= 10
    sharing: dict[str | None, set[str]] = defaultdict(set)
    for auth in ring:
        sharing[auth.device_id].add(auth.customer_id)
    assert max(len(customers) for customers in sharing.values()) >= 3
    assert len({a.card_fingerprint for a in ring}) <= 3
    assert len({a.merchant_id for a in ring}) <= 3


def test_chargebacks_refer_to_captured_labelled_payments(
    events: list[Event], labels: Labels
) -> None:
    captured = {e.payment_id: e for e in of_type(events, PaymentCaptured)}
    chargebacks = [
        r for r in of_type(events, RefundIssued) if r.reason is RefundReason.FRAUD_CHARGEBACK
    ]
    assert chargebacks
    for refund in chargebacks:
        assert refund.payment_id in labels
        capture = captured[refund.payment_id or ""]
        assert refund.amount == capture.amount
        assert refund.occurred_at - capture.occurred_at >= timedelta(days=2)
    fraud_captured = {p for p in captured if p in labels}
    assert {r.payment_id for r in chargebacks} == fraud_captured


def test_label_json_line() -> None:
    label = FraudLabel("p1", "c1", "ab" * 16, "card_testing", CONFIG.start)
    assert json.loads(label.to_json()) == {
        "payment_id": "p1",
        "customer_id": "c1",
        "card_fingerprint": "ab" * 16,
        "pattern": "card_testing",
        "occurred_at": "2026-01-05T00:00:00+00:00",
    }


# --- the command -------------------------------------------------------------------------


def test_summary_counts(pairs: Pairs, labels: Labels) -> None:
    summary = SimulationSummary()
    for event, label in pairs:
        summary.add(event, label)
    assert summary.total == len(pairs)
    assert summary.payments == summary.events["payment.authorized"]
    assert sum(summary.fraud_payments.values()) == len(labels)
    assert set(summary.authorized_minor) == {"HKD", "GBP", "JPY"}


def test_dry_run_summarizes_and_writes_labels(tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    args = ["simulate", "--seed", "5", "--customers", "30", "--days", "2", "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--labels-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fraud: card_testing" in result.output
    assert "authorized JPY" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines
    assert {line["pattern"] for line in lines} <= set(FRAUD_PATTERNS)
    assert not (tmp_path / "labels.jsonl.partial").exists()
