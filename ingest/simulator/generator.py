"""Synthetic payments with labelled fraud: the generator behind ``paystream simulate``.

Pure (no I/O, no clock, no global random state): the same :class:`SimulationConfig` yields
the same events with the same ids, so consumers that deduplicate on ``event_id`` treat a
rerun as a no-op; ids carry the seed, so runs with different seeds never collide.

Normal traffic (registrations, sessions, orders and bookings paid by card, wallet or FPS,
failures, refunds, cancellations) carries four injected fraud patterns, and optionally the
Handbook's two slow ones (compromised merchants, account takeovers). Each fraudulent
``PaymentAuthorized`` comes with a :class:`FraudLabel`; captured fraud is charged back days
later, possibly after the simulated window, as chargebacks arrive in real life.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.simulator.catalog import (
    ABROAD,
    BOOKABLE,
    CARD_TESTING,
    CATEGORIES,
    COUNTRY_OF_CURRENCY,
    FIRST_MERCHANTS,
    FRAUD_PATTERNS,
    FROM_HKD_MINOR,
    HOME_WEIGHTS,
    HOUR_WEIGHTS,
    NAME_WORDS,
    NEW_DEVICE,
    RING,
    SIZE_UNIT_HKD,
    SKIMMED,
    TAKEOVER,
    VELOCITY,
    Category,
    FraudPattern,
    Size,
    Style,
)
from paystream.contracts.events import (
    BookingCancelled,
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

# The catalog's fraud patterns are part of this module's interface (the CLI and tests).
__all__ = ["FRAUD_PATTERNS", "FraudLabel", "FraudPattern", "SimulationConfig", "simulate"]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    The ``*_per_day`` fraud knobs count occurrences per simulated day, rounded but at least
    one per run unless zero; ``fraud_rings`` counts rings per run. The last two are the Fraud
    Detection Handbook's slow scenarios, off by default: a compromised merchant (a skimmed
    terminal) turns every payment there into fraud for ``compromise_days``; a taken-over
    account pays large amounts in a third of its purchases for half as long.
    """

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
    compromised_merchants_per_day: float = 0.0
    account_takeovers_per_day: float = 0.0
    compromise_days: int = 28

    def __post_init__(self) -> None:
        knobs = [v for k, v in vars(self).items() if k != "seed" and isinstance(v, int | float)]
        if min(self.merchants, self.customers, self.days) < 1 or min(knobs) < 0:
            raise ValueError("merchants, customers, days must be >= 1; rates and counts >= 0")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a timezone (UTC)")

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
        return json.dumps({**asdict(self), "occurred_at": self.occurred_at.isoformat()})


def simulate(config: SimulationConfig) -> Iterator[tuple[Event, FraudLabel | None]]:
    """Yield ``(event, label)`` in non-decreasing ``occurred_at`` order.

    ``label`` is set on fraudulent ``PaymentAuthorized`` events and ``None`` otherwise.
    """
    yield from _Simulation(config).run()


@dataclass(frozen=True)
class _Merchant:
    """A merchant; the field names are those of ``MerchantRegistered``."""

    merchant_id: str
    name: str
    category: Category
    country: str
    settlement_currency: str


def _money(amount_minor: int, merchant: _Merchant) -> Money:
    return Money(amount_minor=amount_minor, currency=merchant.settlement_currency)


@dataclass
class _Customer:
    customer_id: str
    country: str
    cards: list[str]
    devices: list[tuple[str, str]]  # (device_id, channel)
    favourites: list[_Merchant]


@dataclass(frozen=True)
class _Visit:
    """Who pays, from where and with what, for the purchases of one session."""

    customer: _Customer
    device: tuple[str, str]
    ip_country: str
    card: str | None  # None: the customer picks a method and one of their own cards
    style: Style


class _Simulation:
    """State of one run; events go through a time-ordered heap before they are yielded."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.prefix = f"sim{config.seed}"
        self.start = config.start.astimezone(UTC)
        self.rng = self._stream("population")
        self.heap: list[tuple[datetime, int, Event, FraudLabel | None]] = []
        self.counters: Counter[str] = Counter()
        self.seq = itertools.count()  # tie-breaker: equal times leave in generation order
        self.merchants: list[_Merchant] = []
        self.customers: list[_Customer] = []
        self.shops: list[_Merchant] = []  # merchants that sell orders, not bookings
        # (merchant id, day) skimmed and (customer id, day) taken over: the slow scenarios.
        self.skimmed: set[tuple[str, int]] = set()
        self.taken_over: set[tuple[str, int]] = set()

    def _stream(self, phase: str) -> random.Random:
        # One stream per phase, so that changing a fraud knob does not reshuffle the
        # population or the normal traffic of a seed (ids, numbered in order, still shift).
        return random.Random(f"paystream:{self.config.seed}:{phase}")  # noqa: S311

    def run(self) -> Iterator[tuple[Event, FraudLabel | None]]:
        self._populate()
        self.rng = self._stream("fraud")
        self._plan_fraud()
        self.rng = self._stream("traffic")
        for day in range(self.config.days):
            self._normal_day(day)
            next_day = self.start + timedelta(days=day + 1)
            # Nothing generated from here on is earlier than the next day's start, so what
            # is earlier than that is final and leaves in order.
            while self.heap and self.heap[0][0] < next_day:
                yield heapq.heappop(self.heap)[2:]
        while self.heap:
            yield heapq.heappop(self.heap)[2:]

    # --- plumbing -----------------------------------------------------------------------

    def _put(
        self, cls: type[Event], key: str, at: datetime, label: FraudLabel | None = None, /, **f: Any
    ) -> None:
        """Build (and so validate) an event with its deterministic id, and queue it."""
        event_type = cls.model_fields["event_type"].default
        event_id = event_id_for("simulate", self.config.seed, event_type, key)
        event = cls(event_id=event_id, occurred_at=at, **f)
        heapq.heappush(self.heap, (event.occurred_at, next(self.seq), event, label))

    def _id(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{self.prefix}-{kind}{self.counters[kind]:07d}"

    def _on_day(self, day: int) -> datetime:
        """A time on simulated day ``day``, never in its first hour (kept for sign-ups)."""
        hour = self.rng.choices(range(1, 24), HOUR_WEIGHTS)[0]
        return self.start + timedelta(days=day, hours=hour, seconds=self.rng.randrange(3600))

    def _seconds(self, low: int, high: int) -> timedelta:
        return timedelta(seconds=self.rng.randint(low, high))

    def _card(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _device(self) -> tuple[str, str]:
        return f"dev-{self.rng.getrandbits(64):016x}", self.rng.choice(("ios", "android", "web"))

    # --- population ---------------------------------------------------------------------

    def _populate(self) -> None:
        rng, cfg = self.rng, self.config
        categories, weights = list(CATEGORIES), [k.weight for k in CATEGORIES.values()]
        for i in range(cfg.merchants):
            if i < len(FIRST_MERCHANTS):
                category, currency = FIRST_MERCHANTS[i]
            else:
                category = rng.choices(categories, weights)[0]
                currency = rng.choices(("HKD", "GBP", "JPY"), (80, 10, 10))[0]
            name = f"{rng.choice(NAME_WORDS)} {CATEGORIES[category].suffix}"
            m = _Merchant(self._id("m"), name, category, COUNTRY_OF_CURRENCY[currency], currency)
            self.merchants.append(m)
            at = self.start + timedelta(seconds=i * 300 // cfg.merchants)
            self._put(MerchantRegistered, m.merchant_id, at, **asdict(m))
        self.shops = [m for m in self.merchants if m.category not in BOOKABLE] or self.merchants
        for j in range(cfg.customers):
            at = self.start + timedelta(seconds=300 + j * 3000 // cfg.customers)
            country = rng.choices(list(HOME_WEIGHTS), list(HOME_WEIGHTS.values()))[0]
            self.customers.append(self._new_customer(at, country, rng.random() < 0.05))

    def _new_customer(self, at: datetime, country: str, guest: bool) -> _Customer:
        rng, cid = self.rng, self._id("c")
        email = f"{cid}.{rng.getrandbits(32):08x}@example.com"
        sha = hashlib.sha256(email.encode()).hexdigest()
        fields = {"customer_id": cid, "country": country, "email_sha256": sha, "guest": guest}
        self._put(CustomerRegistered, cid, at, **fields)
        cards = [self._card() for _ in range(rng.randint(1, 2))]
        devices = [self._device() for _ in range(rng.randint(1, 2))]
        favourites = rng.sample(self.merchants, min(3, len(self.merchants)))
        return _Customer(cid, country, cards, devices, favourites)

    # --- traffic ------------------------------------------------------------------------

    def _poisson(self, mean: float) -> int:
        # Knuth's method: exact and fast for the small means used here.
        limit, k, p = math.exp(-mean), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def _normal_day(self, day: int) -> None:
        rng, cfg = self.rng, self.config
        normal = Style(None, ("normal",), cfg.failure_rate)
        for c in self.customers:
            for _ in range(self._poisson(cfg.payments_per_customer_per_day)):
                merchant = rng.choice(c.favourites if rng.random() < 0.7 else self.merchants)
                if rng.random() < 0.005:  # a new phone: new devices are not always fraud
                    c.devices.append(self._device())
                # Travellers pay from abroad on their own devices: noise for the detectors.
                country = c.country if rng.random() > 0.03 else rng.choice(ABROAD)
                style = normal
                # Only a compromised payer or shop draws more: other seeds' traffic stays put.
                if (merchant.merchant_id, day) in self.skimmed:
                    style = SKIMMED
                elif (c.customer_id, day) in self.taken_over and rng.random() < 1 / 3:
                    style = TAKEOVER
                visit = _Visit(c, rng.choice(c.devices), country, None, style)
                self._session(self._on_day(day), visit, [merchant])
            if rng.random() < 0.15:  # browsing without buying
                visit = _Visit(c, rng.choice(c.devices), c.country, None, normal)
                self._session(self._on_day(day), visit, [])

    def _session(self, at: datetime, visit: _Visit, merchants: list[_Merchant]) -> None:
        sid, (dev, channel), ip = self._id("s"), visit.device, visit.ip_country
        who = {"session_id": sid, "customer_id": visit.customer.customer_id}
        self._put(SessionStarted, sid, at, device_id=dev, ip_country=ip, channel=channel, **who)
        t = at + self._seconds(10, 120)
        for merchant in merchants:
            t = self._purchase(t, visit, merchant) + self._seconds(*visit.style.gap)
        reason = self.rng.choice(("logout", "timeout", "closed"))
        self._put(SessionEnded, sid, t + self._seconds(5, 300), reason=reason, **who)

    def _line(self, n: int, m: _Merchant, size: Size) -> OrderLine:
        rng, (num, den) = self.rng, FROM_HKD_MINOR[m.settlement_currency]
        category = CATEGORIES[m.category]
        low, high = category.unit_hkd if size == "normal" else SIZE_UNIT_HKD[size]
        hkd_minor = rng.randint(low, high) * 100 + rng.choice((0, 0, 50, 90))
        unit = max(1, hkd_minor * num // den)
        qty = rng.choices((1, 2, 3), (70, 20, 10))[0] if size == "normal" else 1
        sku = f"{m.category[:3].upper()}-{rng.randint(1, 400):04d}"
        desc = rng.choice(category.products)
        return OrderLine(line_no=n, sku=sku, description=desc, quantity=qty, unit_price_minor=unit)

    def _purchase(self, at: datetime, visit: _Visit, m: _Merchant) -> datetime:
        """Order or booking, authorization, then capture or failure; returns the last time."""
        rng, style, customer = self.rng, visit.style, visit.customer
        size = rng.choice(style.sizes)
        parties = {"customer_id": customer.customer_id, "merchant_id": m.merchant_id}
        order_id = booking_id = None
        kind, lines, booking = BOOKABLE.get(m.category), [], dict(parties)
        if kind is not None:
            booking_id = self._id("b")
            booking.update(booking_id=booking_id, kind=kind)
            nights = rng.randint(5, 14) if size == "large" else rng.randint(1, 5)
            amount = _money(self._line(1, m, "normal").unit_price_minor * nights, m)
            first = (at + timedelta(days=rng.randint(1, 45))).date()
            dates = {"start_date": first, "end_date": first + timedelta(days=nights)}
            self._put(BookingMade, booking_id, at, amount=amount, **dates, **booking)
        else:
            order_id = self._id("o")
            count = 1 if size == "small" else rng.randint(1, 2 if size == "large" else 4)
            lines = [self._line(n, m, size) for n in range(1, count + 1)]
            amount = _money(sum(line.amount_minor for line in lines), m)
            order = {"order_id": order_id, **parties}
            self._put(OrderPlaced, order_id, at, lines=lines, total=amount, **order)
        card, method = visit.card, PaymentMethod.CARD
        if card is None:
            method = rng.choices(list(PaymentMethod), (85, 10, 5))[0]
            card = None if method is PaymentMethod.FPS else rng.choice(customer.cards)
        payment_id, t = self._id("p"), at + self._seconds(*style.think)
        pay = {"payment_id": payment_id, "amount": amount, **parties}
        label = None
        if style.pattern is not None:
            label = FraudLabel(payment_id, customer.customer_id, card, style.pattern, t)
        refs = {"order_id": order_id, "booking_id": booking_id, "device_id": visit.device[0]}
        where = {"method": method, "card_fingerprint": card, "ip_country": visit.ip_country}
        self._put(PaymentAuthorized, payment_id, t, label, **refs, **where, **pay)
        t += self._seconds(1, 2 if style.pattern == "card_testing" else 5)
        if rng.random() < style.fail_rate:
            code = rng.choices(style.fail_codes, style.fail_weights)[0]
            self._put(PaymentFailed, payment_id, t, failure_code=code, **pay)
            if booking_id is not None:
                at = t + self._seconds(60, 600)
                self._put(BookingCancelled, booking_id, at, reason="payment_failed", **booking)
            return t
        self._put(PaymentCaptured, payment_id, t, **pay)
        if style.pattern is not None:
            later = t + timedelta(days=rng.randint(2, 6), seconds=rng.randrange(86400))
            self._refund(later, pay, RefundReason.FRAUD_CHARGEBACK)
        elif booking_id is not None and rng.random() < self.config.booking_cancel_rate:
            at = t + self._seconds(3600, 4 * 86400)
            self._put(BookingCancelled, booking_id, at, reason="change_of_plans", **booking)
            self._refund(at + self._seconds(60, 3600), pay, RefundReason.CANCELLATION)
        elif lines and rng.random() < self.config.refund_rate:
            # A returned item: the refund names the line and its amount.
            line = rng.choice(lines)
            later = t + timedelta(days=rng.randint(1, 7), seconds=rng.randrange(86400))
            pay["amount"] = _money(line.amount_minor, m)
            self._refund(later, pay, RefundReason.CUSTOMER_REQUEST, line)
        return t

    def _refund(
        self, at: datetime, pay: dict[str, Any], reason: RefundReason, *lines: OrderLine
    ) -> None:
        rid = self._id("r")
        self._put(RefundIssued, rid, at, refund_id=rid, reason=reason, lines=list(lines), **pay)

    # --- fraud --------------------------------------------------------------------------

    def _abroad(self, customer: _Customer) -> str:
        return self.rng.choice([c for c in ABROAD if c != customer.country])

    def _plan_fraud(self) -> None:
        """Queue every fraud event now: the heap releases each one at its own time."""
        rng, cfg = self.rng, self.config
        for _ in range(cfg.count_for(cfg.card_testing_per_day)):
            # A fresh guest account tries a stolen card with many tiny purchases, fast.
            at, home = self._on_day(rng.randrange(cfg.days)), rng.choice(list(HOME_WEIGHTS))
            tester = self._new_customer(at - self._seconds(60, 1800), home, guest=True)
            device = (self._device()[0], "web")
            visit = _Visit(tester, device, self._abroad(tester), self._card(), CARD_TESTING)
            self._session(at, visit, [rng.choice(self.shops)] * rng.randint(10, 30))
        for _ in range(cfg.count_for(cfg.velocity_attacks_per_day)):
            # A taken-over account on the victim's own device: only the pace is unusual.
            victim, count = rng.choice(self.customers), rng.randint(8, 15)
            several = rng.sample(self.shops, min(len(self.shops), rng.randint(3, 5)))
            merchants = several + [rng.choice(several) for _ in range(count - len(several))]
            card = rng.choice(victim.cards)
            visit = _Visit(victim, rng.choice(victim.devices), victim.country, card, VELOCITY)
            self._session(self._on_day(rng.randrange(cfg.days)), visit, merchants)
        for _ in range(cfg.count_for(cfg.new_device_frauds_per_day)):
            # The attacker's device is never added to the victim's own devices.
            victim = rng.choice(self.customers)
            card = rng.choice(victim.cards)
            visit = _Visit(victim, self._device(), self._abroad(victim), card, NEW_DEVICE)
            self._session(
                self._on_day(rng.randrange(cfg.days)), visit, [rng.choice(self.merchants)]
            )
        for _ in range(cfg.fraud_rings):
            self._fraud_ring()
        for _ in range(cfg.count_for(cfg.compromised_merchants_per_day)):
            first, shop = rng.randrange(cfg.days), rng.choice(self.merchants)
            self.skimmed.update((shop.merchant_id, first + d) for d in range(cfg.compromise_days))
        for _ in range(cfg.count_for(cfg.account_takeovers_per_day)):
            first, victim = rng.randrange(cfg.days), rng.choice(self.customers)
            span = max(1, cfg.compromise_days // 2)
            self.taken_over.update((victim.customer_id, first + d) for d in range(span))

    def _fraud_ring(self) -> None:
        """5-10 new accounts sharing a few devices and cards, buying at the same shops."""
        rng, cfg = self.rng, self.config
        size = rng.randint(5, 10)
        # Round-robin over size // 3 devices puts at least three members on every device.
        devices = [self._device() for _ in range(max(1, size // 3))]
        cards = [self._card() for _ in range(rng.randint(2, 3))]
        targets = rng.sample(self.shops, min(len(self.shops), rng.randint(2, 3)))
        home = rng.choice(list(HOME_WEIGHTS))
        end = self.start + timedelta(days=cfg.days)
        for i in range(size):
            signup = self._on_day(rng.randrange(max(1, cfg.days // 2)))
            member = self._new_customer(signup, home, guest=False)
            span = max(3600, int((end - signup).total_seconds()) - 3600)
            for _ in range(rng.randint(2, 5)):
                device = devices[i % len(devices)] if rng.random() < 0.8 else rng.choice(devices)
                visit = _Visit(member, device, home, rng.choice(cards), RING)
                self._session(signup + self._seconds(600, span), visit, [rng.choice(targets)])
