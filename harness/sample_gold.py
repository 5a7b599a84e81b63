"""Small, deterministic sample data in the gold and served shapes (tests, benchmark, demos).

Writes gold Delta tables exactly as the gold contract fixes them (column names and types)
with ``deltalake.write_deltalake`` and served results in the ``paystream.contracts.served``
shapes. It never writes the shared lakehouse or namespace unless told to: callers pass a root
and a namespace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from paystream.contracts.gold import arrow_schema
from paystream.contracts.served import (
    Recommendations,
    RecommendedItem,
    ServedKeys,
    StoredDecision,
)
from paystream.money import Money

# Sample tables carry exactly the contract's columns and types.
STATEMENTS = arrow_schema("merchant_statements")
HISTORY = arrow_schema("customer_payment_history")
INTERACTIONS = arrow_schema("interactions_customer_product")
RISK_KPIS = arrow_schema("risk_kpis")
RISK_REASONS = arrow_schema("risk_reasons")
PRODUCT_DAILY = arrow_schema("product_daily")
CATALOGUE = arrow_schema("product_catalogue")
#: Reason codes of the sample decisions, with how often each is cited per day at most.
SAMPLE_REASONS = {"HIGH_AMOUNT": 9, "NEW_DEVICE": 6, "VELOCITY_1H": 4, "NONE": 40}
#: Names of the sample products; ``SKU0000`` is the first.
SAMPLE_PRODUCTS = (
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "REGENCY CAKESTAND 3 TIER",
    "JUMBO BAG RED RETROSPOT",
    "PARTY BUNTING",
    "LUNCH BAG RED RETROSPOT",
    "ASSORTED COLOUR BIRD ORNAMENT",
    "SET OF 3 CAKE TINS PANTRY DESIGN",
    "PACK OF 72 RETROSPOT CAKE CASES",
)


@dataclass(frozen=True)
class SampleSpec:
    """Size of the sample world."""

    merchants: list[str]
    customers: list[str]
    days: int = 60
    start: date = date(2011, 1, 1)
    currency: str = "GBP"
    seed: int = 7


def statements_table(spec: SampleSpec) -> pa.Table:
    """Daily and monthly statements; the monthly rows are the sums of the daily ones."""
    rng = random.Random(spec.seed)  # noqa: S311 - sample data, not secrets
    daily: list[dict[str, object]] = []
    for merchant in spec.merchants:
        for offset in range(spec.days):
            gross = rng.randint(10_000, 500_000)
            refunds = rng.randint(0, gross // 10)
            daily.append(
                {
                    "merchant_id": merchant,
                    "currency": spec.currency,
                    "granularity": "day",
                    "period_start": spec.start + timedelta(days=offset),
                    "gross_minor": gross,
                    "refunds_minor": refunds,
                    "net_minor": gross - refunds,
                    "payment_count": rng.randint(1, 50),
                    "refund_count": rng.randint(0, 3),
                }
            )
    sums = ("gross_minor", "refunds_minor", "net_minor", "payment_count", "refund_count")
    monthly: dict[tuple[str, date], dict[str, object]] = {}
    for row in daily:
        day = row["period_start"]
        assert isinstance(day, date)
        key = (str(row["merchant_id"]), day.replace(day=1))
        if key not in monthly:
            monthly[key] = {**row, "granularity": "month", "period_start": key[1]}
            monthly[key].update(dict.fromkeys(sums, 0))
        for col in sums:
            monthly[key][col] = int(str(monthly[key][col])) + int(str(row[col]))
    months = list(monthly.values())
    return pa.Table.from_pylist(daily + months, schema=STATEMENTS)


def history_table(spec: SampleSpec, payments_per_customer: int = 3) -> pa.Table:
    """A few payments per customer, each at one of the merchants."""
    rng = random.Random(spec.seed + 1)  # noqa: S311 - sample data, not secrets
    out = []
    base = datetime.combine(spec.start, datetime.min.time(), UTC)
    for c_index, customer in enumerate(spec.customers):
        for n in range(payments_per_customer):
            # Each customer pays exactly one merchant: tenant tests rely on it.
            merchant = spec.merchants[c_index % len(spec.merchants)]
            authorized = base + timedelta(hours=rng.randint(0, spec.days * 24))
            amount = rng.randint(100, 90_000)
            out.append(
                {
                    "customer_id": customer,
                    "merchant_id": merchant,
                    "payment_id": f"pay-{customer}-{n}",
                    "currency": spec.currency,
                    "amount_minor": amount,
                    "refunded_minor": 0,
                    "status": "captured",
                    "authorized_at": authorized,
                    "captured_at": authorized + timedelta(minutes=5),
                    "decision": rng.choice(["approve", "approve", "review", None]),
                }
            )
    return pa.Table.from_pylist(out, schema=HISTORY)


def interactions_table(spec: SampleSpec, items: int = 40) -> pa.Table:
    """Customer-product interactions with a skewed popularity."""
    rng = random.Random(spec.seed + 2)  # noqa: S311 - sample data, not secrets
    out = []
    base = datetime.combine(spec.start, datetime.min.time(), UTC)
    for c_index, customer in enumerate(spec.customers):
        for _ in range(5):
            item = f"SKU{min(items - 1, int(rng.expovariate(0.15))):04d}"
            out.append(
                {
                    "user": customer,
                    "item": item,
                    "weight": float(rng.randint(1, 24)),
                    "timestamp": base + timedelta(days=rng.randint(0, spec.days)),
                    "orders": rng.randint(1, 4),
                    "merchant_id": spec.merchants[c_index % len(spec.merchants)],
                }
            )
    return pa.Table.from_pylist(out, schema=INTERACTIONS)


def risk_kpis_table(spec: SampleSpec) -> pa.Table:
    """Daily risk KPIs."""
    rng = random.Random(spec.seed + 3)  # noqa: S311 - sample data, not secrets
    out = []
    for offset in range(spec.days):
        payments = rng.randint(200, 400)
        declined, reviewed, frauds = rng.randint(2, 20), rng.randint(1, 10), rng.randint(0, 6)
        out.append(
            {
                "day": spec.start + timedelta(days=offset),
                "payments": payments,
                "declined": declined,
                "reviewed": reviewed,
                "frauds": frauds,
                "decline_rate": declined / payments,
                "fraud_rate": frauds / payments,
            }
        )
    return pa.Table.from_pylist(out, schema=RISK_KPIS)


def risk_reasons_table(spec: SampleSpec) -> pa.Table:
    """Daily decisions per reason code: declines and reviews cite codes, approvals ``NONE``."""
    rng = random.Random(spec.seed + 4)  # noqa: S311 - sample data, not secrets
    out = []
    for offset in range(spec.days):
        for reason, most in SAMPLE_REASONS.items():
            kinds = ("approve",) if reason == "NONE" else ("decline", "review")
            for kind in kinds:
                count = rng.randint(1, most)
                out.append(
                    {
                        "day": spec.start + timedelta(days=offset),
                        "reason": reason,
                        "decision": kind,
                        "decisions": count,
                    }
                )
    return pa.Table.from_pylist(out, schema=RISK_REASONS)


def product_name(item: int) -> str:
    """The sample name of product ``SKU<item>``."""
    return f"{SAMPLE_PRODUCTS[item % len(SAMPLE_PRODUCTS)]} {item}"


def product_daily_table(spec: SampleSpec, items: int = 20) -> pa.Table:
    """Daily units, orders and revenue per product and merchant, skewed to the first SKUs."""
    rng = random.Random(spec.seed + 5)  # noqa: S311 - sample data, not secrets
    out = []
    for merchant in spec.merchants:
        for offset in range(spec.days):
            for item in range(items):
                if rng.random() > 0.9**item:
                    continue
                units = rng.randint(1, 40 // (item + 1) + 2)
                out.append(
                    {
                        "day": spec.start + timedelta(days=offset),
                        "merchant_id": merchant,
                        "item": f"SKU{item:04d}",
                        "description": product_name(item),
                        "currency": spec.currency,
                        "units": units,
                        "orders": rng.randint(1, units),
                        "revenue_minor": units * unit_price_minor(item),
                    }
                )
    return pa.Table.from_pylist(out, schema=PRODUCT_DAILY)


def unit_price_minor(item: int) -> int:
    """The sample unit price of product ``SKU<item>`` (the one ``product_daily`` sells at)."""
    return 150 + 35 * item


def catalogue_table(spec: SampleSpec) -> pa.Table:
    """Every merchant's catalogue: the sample products ``SKU0000`` to ``SKU0007``, named and
    priced. The other SKUs that sample lists recommend are not in it (names and prices null)."""
    priced_at = datetime.combine(spec.start + timedelta(days=spec.days - 1), datetime.min.time())
    rows = [
        {
            "merchant_id": merchant,
            "item": f"SKU{item:04d}",
            "name": product_name(item),
            "unit_price_minor": unit_price_minor(item),
            "currency": spec.currency,
            "priced_at": priced_at.replace(tzinfo=UTC),
        }
        for merchant in spec.merchants
        for item in range(len(SAMPLE_PRODUCTS))
    ]
    return pa.Table.from_pylist(rows, schema=CATALOGUE)


def write_gold(root: Path, spec: SampleSpec) -> Path:
    """Write the gold tables the API serves, and the product catalogue the sample lists are
    named from, under ``root/gold``; return that folder."""
    gold = root / "gold"
    write_deltalake(
        str(gold / "merchant_statements"),
        statements_table(spec),
        mode="overwrite",
        partition_by=["granularity"],
    )
    write_deltalake(str(gold / "customer_payment_history"), history_table(spec), mode="overwrite")
    write_deltalake(
        str(gold / "interactions_customer_product"), interactions_table(spec), mode="overwrite"
    )
    write_deltalake(str(gold / "risk_kpis"), risk_kpis_table(spec), mode="overwrite")
    write_deltalake(str(gold / "risk_reasons"), risk_reasons_table(spec), mode="overwrite")
    write_deltalake(str(gold / "product_daily"), product_daily_table(spec), mode="overwrite")
    write_deltalake(str(gold / "product_catalogue"), catalogue_table(spec), mode="overwrite")
    return gold


def recommended_item(n: int, currency: str = "GBP") -> RecommendedItem:
    """Sample item ``SKU<n>``, named and priced as in :func:`catalogue_table` when it is
    one of the catalogued products, else with name and price null."""
    known = n < len(SAMPLE_PRODUCTS)
    return RecommendedItem(
        item_id=f"SKU{n:04d}",
        score=round(1.0 - n / 20, 3),
        source="als",
        name=product_name(n) if known else None,
        unit_price=Money(amount_minor=unit_price_minor(n), currency=currency) if known else None,
    )


def recommendations(customer_id: str | None, items: int = 10) -> Recommendations:
    """A served recommendations list; past the catalogued products, items are unnamed."""
    return Recommendations(
        customer_id=customer_id,
        items=[recommended_item(n) for n in range(items)],
        model_name="paystream-recommender",
        model_version="1" if customer_id else "popular-1",
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def decision(payment_id: str, customer_id: str, merchant_id: str) -> StoredDecision:
    """A served risk decision."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredDecision(
        payment_id=payment_id,
        customer_id=customer_id,
        merchant_id=merchant_id,
        decision="review",
        score=0.42,
        reasons=["NEW_DEVICE", "HIGH_AMOUNT"],
        model_version="3",
        degraded=False,
        event_id="00000000-0000-0000-0000-000000000001",
        authorized_at=now,
        decided_at=now + timedelta(milliseconds=12),
    )


def served_commands(namespace: str, spec: SampleSpec) -> list[tuple[str, str]]:
    """``(key, JSON)`` pairs of recommendations: the first customer has none (cold start)."""
    keys = ServedKeys(namespace)
    popular = recommendations(None).model_dump_json()
    pairs = [(keys.popular(merchant), popular) for merchant in spec.merchants]
    for c_index, customer in enumerate(spec.customers):
        if c_index == 0:
            continue
        # The merchant the customer pays (as in the history table): lists are per merchant.
        merchant = spec.merchants[c_index % len(spec.merchants)]
        pairs.append(
            (keys.recommendations(customer, merchant), recommendations(customer).model_dump_json())
        )
    return pairs
