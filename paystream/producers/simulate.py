"""Synthetic payments with labelled fraud: the generator behind ``paystream simulate``.

A pure generator (no I/O, no clock, no global random state): the same
:class:`SimulationConfig` always yields the same events with the same ids, so a run can be
replayed, and consumers that deduplicate on ``event_id`` treat a second run as a no-op.
Every id carries the seed, so runs with different seeds never collide.

Normal traffic is merchants and customers registering, then sessions with orders or bookings
paid by card, wallet or FPS, a few failures, refunds and booking cancellations. On top of it
four fraud patterns are injected; each fraudulent ``PaymentAuthorized`` is yielded with a
:class:`FraudLabel`, and captured fraud is charged back a few days later (possibly after
the simulated window, which is how chargebacks arrive in real life).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from paystream.contracts.events import (
    BookingCancelled,
    BookingKind,
    BookingMade,
    CustomerRegistered,
    Event,
    MerchantRegistered,
    OrderLine,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentMethod,
    RefundIssued,
    RefundReason,
    SessionEnded,
    SessionStarted,
    event_id_for,
)
from paystream.money import Money

FraudPattern = Literal["card_testing", "velocity_attack", "new_device_new_country", "fraud_ring"]
FRAUD_PATTERNS: tuple[FraudPattern, ...] = (
    "card_testing",
    "velocity_attack",
    "new_device_new_country",
    "fraud_ring",
)
Category = Literal["retail", "ecommerce", "hotel", "car_rental", "food", "services"]
Size = Literal["small", "normal", "large"]

_BOOKABLE: dict[str, BookingKind] = {
    "hotel": BookingKind.HOTEL,
    "car_rental": BookingKind.CAR_RENTAL,
}
_CATEGORY_WEIGHTS: dict[Category, int] = {
    "retail": 30, "ecommerce": 25, "food": 20, "services": 10, "hotel": 8, "car_rental": 7,
}  # fmt: skip
# The first merchants are fixed so that even a small run covers every category that has
# its own flow (bookings) and every currency exponent the stack must handle.
_FIRST_MERCHANTS: tuple[tuple[Category, str], ...] = (
    ("retail", "HKD"), ("ecommerce", "HKD"), ("hotel", "HKD"), ("car_rental", "HKD"),
    ("ecommerce", "GBP"), ("retail", "JPY"), ("hotel", "JPY"), ("food", "HKD"),
)  # fmt: skip
_COUNTRY_OF_CURRENCY = {"HKD": "Hong Kong", "GBP": "United Kingdom", "JPY": "Japan"}
# HKD minor units -> the currency's minor units as an integer ratio. Rounded rates: the goal
# is realistic magnitudes per exponent (1 HKD ~ 10 pence ~ 20 yen), not FX accuracy.
_FROM_HKD_MINOR = {"HKD": (1, 1), "GBP": (1, 10), "JPY": (1, 5)}
# Price of one unit in whole HKD, by category (hotel: a night, car rental: a day).
_UNIT_PRICE_HKD: dict[Category, tuple[int, int]] = {
    "retail": (20, 800), "ecommerce": (15, 600), "food": (30, 250),
    "services": (100, 1500), "hotel": (600, 2800), "car_rental": (300, 1200),
}  # fmt: skip
_SIZE_PRICE_HKD: dict[Size, tuple[int, int] | None] = {
    "small": (1, 20),
    "normal": None,
    "large": (1500, 12000),
}
_PRODUCTS: dict[Category, tuple[str, ...]] = {
    "retail": ("Sneakers", "Handbag", "Sunglasses", "Watch", "Jacket"),
    "ecommerce": ("Headphones", "Phone case", "Gift card", "Game credits", "Charger"),
    "food": ("Dim sum set", "Milk tea", "Roast goose rice", "Egg tarts"),
    "services": ("Haircut", "Laundry", "Phone repair", "Cleaning"),
    "hotel": ("Room night",),
    "car_rental": ("Rental day",),
}
_NAME_WORDS = ("Harbour", "Peak", "Jade", "Lantern", "Victoria", "Orchid", "Golden", "Pearl")
_NAME_SUFFIX: dict[Category, str] = {
    "retail": "Store", "ecommerce": "Online", "food": "Kitchen",
    "services": "Services", "hotel": "Hotel", "car_rental": "Car Rental",
}  # fmt: skip
_HOME_WEIGHTS = {"Hong Kong": 80, "United Kingdom": 6, "Japan": 5, "Singapore": 4, "China": 5}
# Where travellers (noise) and attackers (signal) connect from: the same neutral list, so a
# foreign ip_country alone is not the fraud signal, only together with a new device.
_ABROAD = (
    "United States", "Germany", "Brazil", "Netherlands", "Canada", "Thailand", "France",
    "Australia", "Singapore", "Japan", "United Kingdom", "Hong Kong",
)  # fmt: skip
# UTC hours 1..23 (00:00-01:00 is left to registrations); peaks at Hong Kong daytime.
_HOUR_WEIGHTS = (2, 4, 6, 8, 9, 9, 9, 9, 8, 8, 8, 9, 10, 10, 8, 5, 3, 1, 1, 1, 1, 1, 1)
_FAIL_CODES = ("insufficient_funds", "card_declined", "expired_card", "processing_error")
_FAIL_WEIGHTS = (40, 30, 15, 15)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Fraud knobs are counts per simulated day (at least one each)."""

    seed: int
    merchants: int = 20
    customers: int = 500
    days: int = 14
    payments_per_customer_per_day: float = 0.6
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    failure_rate: float = 0.03
    refund_rate: float = 0.03
    booking_cancel_rate: float = 0.08
    card_testing_per_day: float = 0.5
    velocity_attacks_per_day: float = 0.3
    new_device_frauds_per_day: float = 1.0
    fraud_rings: int = 1

    def __post_init__(self) -> None:
        if min(self.merchants, self.customers, self.days) < 1:
            raise ValueError("merchants, customers and days must be at least 1")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a timezone (UTC)")
        rates = (
            self.payments_per_customer_per_day,
            self.failure_rate,
            self.refund_rate,
            self.booking_cancel_rate,
            self.card_testing_per_day,
            self.velocity_attacks_per_day,
            self.new_device_frauds_per_day,
            self.fraud_rings,
        )
        if min(rates) < 0:
            raise ValueError("rates and counts must not be negative")

    def count_for(self, per_day: float) -> int:
        """Occurrences of a pattern over the run: zero only if its rate is zero."""
        return max(1, round(per_day * self.days)) if per_day > 0 else 0


@dataclass(frozen=True)
class FraudLabel:
    """Ground truth for one fraudulent authorization."""

    payment_id: str
    customer_id: str
    card_fingerprint: str | None
    pattern: FraudPattern
    occurred_at: datetime

    def to_json(self) -> str:
        """One JSON line (the format of the labels file)."""
        return json.dumps(
            {
                "payment_id": self.payment_id,
                "customer_id": self.customer_id,
                "card_fingerprint": self.card_fingerprint,
                "pattern": self.pattern,
                "occurred_at": self.occurred_at.isoformat(),
            }
        )


@dataclass
class SimulationSummary:
    """Running totals over a stream of simulated events."""

    events: Counter[str] = field(default_factory=Counter)
    payments: int = 0
    failed: int = 0
    fraud_payments: Counter[str] = field(default_factory=Counter)
    authorized_minor: Counter[str] = field(default_factory=Counter)
    refunds: Counter[str] = field(default_factory=Counter)

    def add(self, event: Event, label: FraudLabel | None) -> None:
        """Account for one yielded pair."""
        self.events[event.event_type] += 1
        if isinstance(event, PaymentAuthorized):
            self.payments += 1
            self.authorized_minor[event.amount.currency] += event.amount.amount_minor
        elif isinstance(event, PaymentFailed):
            self.failed += 1
        elif isinstance(event, RefundIssued):
            self.refunds[event.reason.value] += 1
        if label is not None:
            self.fraud_payments[label.pattern] += 1


def summarize(stream: Iterable[tuple[Event, FraudLabel | None]]) -> SimulationSummary:
    """Consume a stream (e.g. ``simulate(config)``) and return its totals."""
    summary = SimulationSummary()
    for event, label in stream:
        summary.add(event, label)
    return summary


def simulate(config: SimulationConfig) -> Iterator[tuple[Event, FraudLabel | None]]:
    """Yield ``(event, label)`` in non-decreasing ``occurred_at`` order.

    ``label`` is set on fraudulent ``PaymentAuthorized`` events and ``None`` otherwise.
    """
    yield from _Simulation(config).run()


@dataclass(frozen=True)
class _Merchant:
    merchant_id: str
    category: Category
    currency: str


@dataclass
class _Customer:
    customer_id: str
    country: str
    cards: list[str]
    devices: list[tuple[str, str]]  # (device_id, channel)
    favourites: list[_Merchant]


@dataclass(frozen=True)
class _Style:
    """How one kind of traffic pays: amounts, failures and pacing (in seconds)."""

    pattern: FraudPattern | None
    sizes: tuple[Size, ...]
    fail_rate: float
    fail_codes: tuple[str, ...] = _FAIL_CODES
    fail_weights: tuple[int, ...] = _FAIL_WEIGHTS
    think: tuple[int, int] = (20, 300)  # order or booking -> authorization
    gap: tuple[int, int] = (30, 240)  # between purchases in one session


_CARD_TESTING = _Style(
    "card_testing", ("small",), 0.7, ("card_declined",), (1,), think=(1, 2), gap=(0, 2)
)
_VELOCITY = _Style("velocity_attack", ("normal", "large"), 0.1, think=(2, 8), gap=(5, 25))
_NEW_DEVICE = _Style("new_device_new_country", ("large",), 0.1, think=(20, 120))
_RING = _Style("fraud_ring", ("normal", "large"), 0.05, think=(10, 90))


class _Simulation:
    """State of one run; events go through a time-ordered heap before they are yielded."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.prefix = f"sim{config.seed}"
        # Separate streams, so that changing one part (say, a fraud knob) leaves the
        # population and the normal traffic of a seed unchanged.
        self.rng_population = random.Random(f"paystream:{config.seed}:population")  # noqa: S311
        self.rng = random.Random(f"paystream:{config.seed}:traffic")  # noqa: S311
        self.rng_fraud = random.Random(f"paystream:{config.seed}:fraud")  # noqa: S311
        self.heap: list[tuple[datetime, int, Event, FraudLabel | None]] = []
        self.seq = 0
        self.counters: Counter[str] = Counter()
        self.merchants: list[_Merchant] = []
        self.customers: list[_Customer] = []

    def run(self) -> Iterator[tuple[Event, FraudLabel | None]]:
        self._populate()
        self._plan_fraud()
        for day in range(self.config.days):
            day_start = self.config.start + timedelta(days=day)
            self._normal_day(day_start)
            # Everything generated from now on is at or after the next day's start, so all
            # that is earlier is final and can be yielded in order.
            yield from self._drain(day_start + timedelta(days=1))
        yield from self._drain(None)

    # --- plumbing -----------------------------------------------------------------------

    def _emit(self, event: Event, label: FraudLabel | None = None) -> None:
        heapq.heappush(self.heap, (event.occurred_at, self.seq, event, label))
        self.seq += 1

    def _drain(self, until: datetime | None) -> Iterator[tuple[Event, FraudLabel | None]]:
        while self.heap and (until is None or self.heap[0][0] < until):
            _, _, event, label = heapq.heappop(self.heap)
            yield event, label

    def _id(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{self.prefix}-{kind}{self.counters[kind]:07d}"

    def _eid(self, event_type: str, key: str) -> UUID:
        return event_id_for("simulate", self.config.seed, event_type, key)

    def _money(self, amount_minor: int, currency: str) -> Money:
        return Money(amount_minor=amount_minor, currency=currency)

    # --- population ---------------------------------------------------------------------

    def _populate(self) -> None:
        rng, cfg = self.rng_population, self.config
        categories, weights = zip(*_CATEGORY_WEIGHTS.items(), strict=True)
        for i in range(cfg.merchants):
            if i < len(_FIRST_MERCHANTS):
                category, currency = _FIRST_MERCHANTS[i]
            else:
                category = rng.choices(categories, weights)[0]
                currency = rng.choices(("HKD", "GBP", "JPY"), (80, 10, 10))[0]
            merchant = _Merchant(self._id("m"), category, currency)
            self.merchants.append(merchant)
            at = cfg.start + timedelta(seconds=i * 300 // cfg.merchants)
            name = f"{rng.choice(_NAME_WORDS)} {_NAME_SUFFIX[category]}"
            self._emit(
                MerchantRegistered(
                    event_id=self._eid("merchant.registered", merchant.merchant_id),
                    occurred_at=at,
                    merchant_id=merchant.merchant_id,
                    name=name,
                    category=category,
                    country=_COUNTRY_OF_CURRENCY[currency],
                    settlement_currency=currency,
                )
            )
        for j in range(cfg.customers):
            at = cfg.start + timedelta(seconds=300 + j * 3000 // cfg.customers)
            country = rng.choices(list(_HOME_WEIGHTS), list(_HOME_WEIGHTS.values()))[0]
            self.customers.append(self._new_customer(rng, at, country, rng.random() < 0.05))

    def _new_customer(
        self, rng: random.Random, at: datetime, country: str, guest: bool
    ) -> _Customer:
        customer_id = self._id("c")
        email = f"{customer_id}.{rng.getrandbits(32):08x}@example.com"
        self._emit(
            CustomerRegistered(
                event_id=self._eid("customer.registered", customer_id),
                occurred_at=at,
                customer_id=customer_id,
                country=country,
                email_sha256=hashlib.sha256(email.encode()).hexdigest(),
                guest=guest,
            )
        )
        return _Customer(
            customer_id,
            country,
            [self._card(rng) for _ in range(rng.randint(1, 2))],
            [self._device(rng) for _ in range(rng.randint(1, 2))],
            rng.sample(self.merchants, min(3, len(self.merchants))),
        )

    @staticmethod
    def _card(rng: random.Random) -> str:
        return f"{rng.getrandbits(128):032x}"

    @staticmethod
    def _device(rng: random.Random) -> tuple[str, str]:
        return f"dev-{rng.getrandbits(64):016x}", rng.choice(("ios", "android", "web"))

    @staticmethod
    def _time_of_day(rng: random.Random) -> timedelta:
        hour = rng.choices(range(1, 24), _HOUR_WEIGHTS)[0]
        return timedelta(hours=hour, seconds=rng.randrange(3600))

    # --- normal traffic -----------------------------------------------------------------

    def _poisson(self, mean: float) -> int:
        # Knuth's method: exact and fast for the small means used here.
        limit, k, p = math.exp(-mean), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def _normal_day(self, day_start: datetime) -> None:
        rng, cfg = self.rng, self.config
        normal = _Style(None, ("normal",), cfg.failure_rate)
        for customer in self.customers:
            for _ in range(self._poisson(cfg.payments_per_customer_per_day)):
                at = day_start + self._time_of_day(rng)
                merchant = (
                    rng.choice(customer.favourites)
                    if rng.random() < 0.7
                    else rng.choice(self.merchants)
                )
                if rng.random() < 0.005:  # a new phone: new devices are not always fraud
                    customer.devices.append(self._device(rng))
                device = rng.choice(customer.devices)
                # Travellers pay from abroad on their own devices: noise for the detectors.
                country = customer.country if rng.random() > 0.03 else rng.choice(_ABROAD)
                self._session(rng, at, customer, device, country, [merchant], None, normal)
            if rng.random() < 0.15:  # browsing without buying
                at = day_start + self._time_of_day(rng)
                device = rng.choice(customer.devices)
                self._session(rng, at, customer, device, customer.country, [], None, normal)

    def _session(
        self,
        rng: random.Random,
        at: datetime,
        customer: _Customer,
        device: tuple[str, str],
        ip_country: str,
        merchants: list[_Merchant],
        card: str | None,
        style: _Style,
    ) -> None:
        session_id = self._id("s")
        self._emit(
            SessionStarted(
                event_id=self._eid("session.started", session_id),
                occurred_at=at,
                session_id=session_id,
                customer_id=customer.customer_id,
                device_id=device[0],
                ip_country=ip_country,
                channel=device[1],
            )
        )
        t = at + timedelta(seconds=rng.randint(10, 120))
        for merchant in merchants:
            t = self._purchase(rng, t, customer, merchant, device[0], ip_country, card, style)
            t += timedelta(seconds=rng.randint(*style.gap))
        self._emit(
            SessionEnded(
                event_id=self._eid("session.ended", session_id),
                occurred_at=t + timedelta(seconds=rng.randint(5, 300)),
                session_id=session_id,
                customer_id=customer.customer_id,
                reason=rng.choice(("logout", "timeout", "closed")),
            )
        )

    def _lines(self, rng: random.Random, merchant: _Merchant, size: Size) -> list[OrderLine]:
        price_range = _SIZE_PRICE_HKD[size] or _UNIT_PRICE_HKD[merchant.category]
        count = 1 if size == "small" else rng.randint(1, 2 if size == "large" else 4)
        num, den = _FROM_HKD_MINOR[merchant.currency]
        lines = []
        for n in range(1, count + 1):
            hkd_minor = rng.randint(*price_range) * 100 + rng.choice((0, 0, 50, 90))
            lines.append(
                OrderLine(
                    line_no=n,
                    sku=f"{merchant.category[:3].upper()}-{rng.randint(1, 400):04d}",
                    description=rng.choice(_PRODUCTS[merchant.category]),
                    quantity=1 if size != "normal" else rng.choices((1, 2, 3), (70, 20, 10))[0],
                    unit_price_minor=max(1, hkd_minor * num // den),
                )
            )
        return lines

    def _purchase(
        self,
        rng: random.Random,
        at: datetime,
        customer: _Customer,
        merchant: _Merchant,
        device_id: str,
        ip_country: str,
        card: str | None,
        style: _Style,
    ) -> datetime:
        """Order or booking, authorization, then capture or failure; returns the last time."""
        size = rng.choice(style.sizes)
        cid, mid, currency = customer.customer_id, merchant.merchant_id, merchant.currency
        order_id = booking_id = None
        kind = _BOOKABLE.get(merchant.category)
        if kind is not None:
            booking_id = self._id("b")
            nightly = self._lines(rng, merchant, "normal")[0]
            nights = rng.randint(5, 14) if size == "large" else rng.randint(1, 5)
            amount = self._money(nightly.unit_price_minor * nights, currency)
            first_day = (at + timedelta(days=rng.randint(1, 45))).date()
            self._emit(
                BookingMade(
                    event_id=self._eid("booking.made", booking_id),
                    occurred_at=at,
                    booking_id=booking_id,
                    customer_id=cid,
                    merchant_id=mid,
                    kind=kind,
                    start_date=first_day,
                    end_date=first_day + timedelta(days=nights),
                    amount=amount,
                )
            )
            lines: list[OrderLine] = []
        else:
            order_id = self._id("o")
            lines = self._lines(rng, merchant, size)
            amount = self._money(sum(line.amount_minor for line in lines), currency)
            self._emit(
                OrderPlaced(
                    event_id=self._eid("order.placed", order_id),
                    occurred_at=at,
                    order_id=order_id,
                    customer_id=cid,
                    merchant_id=mid,
                    lines=lines,
                    total=amount,
                )
            )
        method = PaymentMethod.CARD
        if card is None:
            method = rng.choices(list(PaymentMethod), (85, 10, 5))[0]
            card = None if method is PaymentMethod.FPS else rng.choice(customer.cards)
        payment_id = self._id("p")
        t = at + timedelta(seconds=rng.randint(*style.think))
        label = None
        if style.pattern is not None:
            label = FraudLabel(payment_id, cid, card, style.pattern, t)
        payment = {"payment_id": payment_id, "customer_id": cid, "merchant_id": mid}
        self._emit(
            PaymentAuthorized(
                event_id=self._eid("payment.authorized", payment_id),
                occurred_at=t,
                amount=amount,
                order_id=order_id,
                booking_id=booking_id,
                method=method,
                card_fingerprint=card,
                device_id=device_id,
                ip_country=ip_country,
                **payment,
            ),
            label,
        )
        t += timedelta(seconds=rng.randint(1, 2 if style.pattern == "card_testing" else 5))
        if rng.random() < style.fail_rate:
            code = rng.choices(style.fail_codes, style.fail_weights)[0]
            self._emit(
                PaymentFailed(
                    event_id=self._eid("payment.failed", payment_id),
                    occurred_at=t,
                    amount=amount,
                    failure_code=code,
                    **payment,
                )
            )
            if booking_id is not None and kind is not None:
                self._cancel(rng, t, booking_id, cid, mid, kind, "payment_failed", None)
            return t
        self._emit(
            PaymentCaptured(
                event_id=self._eid("payment.captured", payment_id),
                occurred_at=t,
                amount=amount,
                **payment,
            )
        )
        if style.pattern is not None:
            later = t + timedelta(days=rng.randint(2, 6), seconds=rng.randrange(86400))
            self._refund(later, payment, amount, RefundReason.FRAUD_CHARGEBACK, [])
        elif booking_id is not None and kind is not None:
            if rng.random() < self.config.booking_cancel_rate:
                refund = (payment, amount)
                self._cancel(rng, t, booking_id, cid, mid, kind, "change_of_plans", refund)
        elif rng.random() < self.config.refund_rate:
            # A returned item: the refund names the line and its amount.
            line = rng.choice(lines)
            later = t + timedelta(days=rng.randint(1, 7), seconds=rng.randrange(86400))
            refunded = self._money(line.amount_minor, currency)
            self._refund(later, payment, refunded, RefundReason.CUSTOMER_REQUEST, [line])
        return t

    def _refund(
        self,
        at: datetime,
        payment: dict[str, str],
        amount: Money,
        reason: RefundReason,
        lines: list[OrderLine],
    ) -> None:
        refund_id = self._id("r")
        self._emit(
            RefundIssued(
                event_id=self._eid("refund.issued", refund_id),
                occurred_at=at,
                refund_id=refund_id,
                amount=amount,
                reason=reason,
                lines=lines,
                **payment,
            )
        )

    def _cancel(
        self,
        rng: random.Random,
        at: datetime,
        booking_id: str,
        customer_id: str,
        merchant_id: str,
        kind: BookingKind,
        reason: str,
        refund: tuple[dict[str, str], Money] | None,
    ) -> None:
        at += timedelta(seconds=rng.randint(60, 4 * 86400))
        self._emit(
            BookingCancelled(
                event_id=self._eid("booking.cancelled", booking_id),
                occurred_at=at,
                booking_id=booking_id,
                customer_id=customer_id,
                merchant_id=merchant_id,
                kind=kind,
                reason=reason,
            )
        )
        if refund is not None:
            later = at + timedelta(seconds=rng.randint(60, 3600))
            self._refund(later, refund[0], refund[1], RefundReason.CANCELLATION, [])

    # --- fraud --------------------------------------------------------------------------

    def _plan_fraud(self) -> None:
        """Push every fraud event now: the heap releases each one at its own time."""
        rng, cfg = self.rng_fraud, self.config
        shops = [m for m in self.merchants if m.category not in _BOOKABLE] or self.merchants

        def when() -> datetime:
            return cfg.start + timedelta(days=rng.randrange(cfg.days)) + self._time_of_day(rng)

        def abroad(customer: _Customer) -> str:
            return rng.choice([c for c in _ABROAD if c != customer.country])

        for _ in range(cfg.count_for(cfg.card_testing_per_day)):
            # A fresh guest account tries a stolen card with many tiny purchases.
            at = when()
            signup = at - timedelta(seconds=rng.randint(60, 1800))
            home = rng.choice(list(_HOME_WEIGHTS))
            tester = self._new_customer(rng, signup, home, guest=True)
            merchants = [rng.choice(shops)] * rng.randint(10, 30)
            device = (self._device(rng)[0], "web")
            country = abroad(tester)
            self._session(
                rng, at, tester, device, country, merchants, self._card(rng), _CARD_TESTING
            )
        for _ in range(cfg.count_for(cfg.velocity_attacks_per_day)):
            # A taken-over account on the victim's own device: only the pace is unusual.
            victim = rng.choice(self.customers)
            several = rng.sample(shops, min(len(shops), rng.randint(3, 5)))
            merchants = [rng.choice(several) for _ in range(rng.randint(8, 15))]
            merchants[: len(several)] = several
            device = rng.choice(victim.devices)
            card = rng.choice(victim.cards)
            self._session(rng, when(), victim, device, victim.country, merchants, card, _VELOCITY)
        for _ in range(cfg.count_for(cfg.new_device_frauds_per_day)):
            victim = rng.choice(self.customers)
            device = self._device(rng)  # never added to the victim's own devices
            merchant = rng.choice(self.merchants)
            card = rng.choice(victim.cards)
            self._session(
                rng, when(), victim, device, abroad(victim), [merchant], card, _NEW_DEVICE
            )
        for _ in range(cfg.fraud_rings):
            self._fraud_ring(rng, shops)

    def _fraud_ring(self, rng: random.Random, shops: list[_Merchant]) -> None:
        """5-10 new accounts sharing a few devices and cards, buying at the same shops."""
        cfg = self.config
        size = rng.randint(5, 10)
        # Round-robin over size // 3 devices puts at least three members on every device.
        devices = [self._device(rng) for _ in range(max(1, size // 3))]
        cards = [self._card(rng) for _ in range(rng.randint(2, 3))]
        targets = rng.sample(shops, min(len(shops), rng.randint(2, 3)))
        home = rng.choice(list(_HOME_WEIGHTS))
        end = cfg.start + timedelta(days=cfg.days)
        for i in range(size):
            day = rng.randrange(max(1, cfg.days // 2))
            signup = cfg.start + timedelta(days=day) + self._time_of_day(rng)
            member = self._new_customer(rng, signup, home, guest=False)
            span = max(3600, int((end - signup).total_seconds()) - 3600)
            for _ in range(rng.randint(2, 5)):
                at = signup + timedelta(seconds=rng.randint(600, span))
                device = devices[i % len(devices)] if rng.random() < 0.8 else rng.choice(devices)
                merchant, card = rng.choice(targets), rng.choice(cards)
                self._session(rng, at, member, device, home, [merchant], card, _RING)
