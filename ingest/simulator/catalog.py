"""The simulator's catalog: merchant categories, currencies, countries and traffic shapes.

Plain data for :mod:`ingest.simulator.generator`; changing a value changes every seed's run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

from paystream.contracts.events import BookingKind

Category = Literal["retail", "ecommerce", "hotel", "car_rental", "food", "services"]
Size = Literal["small", "normal", "large"]

BOOKABLE = {"hotel": BookingKind.HOTEL, "car_rental": BookingKind.CAR_RENTAL}
# The first merchants are fixed so that even a small run covers every category that has
# its own flow (bookings) and every currency exponent the stack must handle.
FIRST_MERCHANTS: tuple[tuple[Category, str], ...] = (
    ("retail", "HKD"), ("ecommerce", "HKD"), ("hotel", "HKD"), ("car_rental", "HKD"),
    ("ecommerce", "GBP"), ("retail", "JPY"), ("hotel", "JPY"), ("food", "HKD"),
)  # fmt: skip
COUNTRY_OF_CURRENCY = {"HKD": "Hong Kong", "GBP": "United Kingdom", "JPY": "Japan"}
# HKD minor units -> the currency's minor units as an integer ratio. Rounded rates: the goal
# is realistic magnitudes per exponent (1 HKD ~ 10 pence ~ 20 yen), not FX accuracy.
FROM_HKD_MINOR = {"HKD": (1, 1), "GBP": (1, 10), "JPY": (1, 5)}


class Kind(NamedTuple):
    weight: int  # share of merchants
    suffix: str  # of merchant names
    unit_hkd: tuple[int, int]  # price range of one unit (hotel: a night, car: a day)
    products: tuple[str, ...]


CATEGORIES: dict[Category, Kind] = {
    "retail": Kind(30, "Store", (20, 800), ("Sneakers", "Handbag", "Sunglasses", "Watch")),
    "ecommerce": Kind(25, "Online", (15, 600), ("Headphones", "Gift card", "Game credits")),
    "food": Kind(20, "Kitchen", (30, 250), ("Dim sum set", "Milk tea", "Egg tarts")),
    "services": Kind(10, "Services", (100, 1500), ("Haircut", "Laundry", "Phone repair")),
    "hotel": Kind(8, "Hotel", (600, 2800), ("Room night",)),
    "car_rental": Kind(7, "Car Rental", (300, 1200), ("Rental day",)),
}
SIZE_UNIT_HKD: dict[Size, tuple[int, int]] = {"small": (1, 20), "large": (1500, 12000)}
NAME_WORDS = ("Harbour", "Peak", "Jade", "Lantern", "Victoria", "Orchid", "Golden", "Pearl")
HOME_WEIGHTS = {"Hong Kong": 80, "United Kingdom": 6, "Japan": 5, "Singapore": 4, "China": 5}
# Where travellers (noise) and attackers (signal) connect from: the same neutral list, so a
# foreign ip_country alone is not the fraud signal, only together with a new device.
ABROAD = (
    "United States", "Germany", "Brazil", "Netherlands", "Canada", "Thailand", "France",
    "Australia", "Singapore", "Japan", "United Kingdom", "Hong Kong",
)  # fmt: skip
# UTC hours 1..23 (00:00-01:00 is left to registrations); peaks at Hong Kong daytime.
FAIL_CODES = ("insufficient_funds", "card_declined", "expired_card", "processing_error")
HOUR_WEIGHTS = (2, 4, 6, 8, 9, 9, 9, 9, 8, 8, 8, 9, 10, 10, 8, 5, 3, 1, 1, 1, 1, 1, 1)

FraudPattern = Literal[
    "card_testing",
    "velocity_attack",
    "new_device_new_country",
    "fraud_ring",
    "compromised_merchant",
    "account_takeover",
]
FRAUD_PATTERNS: tuple[FraudPattern, ...] = get_args(FraudPattern)


@dataclass(frozen=True)
class Style:
    """How one kind of traffic pays: amounts, failures and pacing (in seconds)."""

    pattern: FraudPattern | None
    sizes: tuple[Size, ...]
    fail_rate: float
    fail_codes: tuple[str, ...] = FAIL_CODES
    fail_weights: tuple[int, ...] = (40, 30, 15, 15)
    think: tuple[int, int] = (20, 300)  # order or booking -> authorization
    gap: tuple[int, int] = (30, 240)  # between purchases in one session


CARD_TESTING = Style("card_testing", ("small",), 0.7, ("card_declined",), (1,), (1, 2), (0, 2))
VELOCITY = Style("velocity_attack", ("normal", "large"), 0.1, think=(2, 8), gap=(5, 25))
NEW_DEVICE = Style("new_device_new_country", ("large",), 0.1, think=(20, 120))
RING = Style("fraud_ring", ("normal", "large"), 0.05, think=(10, 90))
SKIMMED = Style("compromised_merchant", ("normal",), 0.03)
TAKEOVER = Style("account_takeover", ("large",), 0.03)
