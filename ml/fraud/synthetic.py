"""Synthetic risk decisions with a learnable fraud signal, written into a ledger.

For the training tests and for dry runs of ``bench.fraud_quality`` without a full
``paystream simulate`` + risk agent run. Feature vectors are made the way the risk agent
makes them: :class:`~paystream.contracts.fraud_features.FeatureInputs` through
:func:`~paystream.contracts.fraud_features.compute_features`. Fraud shows bursts on one card,
new devices from foreign countries, larger amounts and fraud-linked graph neighbours, each only
*usually*, so neither the model nor the rules are perfect. The rules score sees only part of
that signal, as a fixed rule set would.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from paystream.contracts.fraud_features import FeatureInputs, GraphView, Window, compute_features
from paystream.ledger.models import Refund, RiskDecision
from paystream.stores.mysql import Database


@dataclass(frozen=True)
class SyntheticLedger:
    """Rows ready to insert: ``risk_decisions`` and their ``fraud_chargeback`` refunds."""

    decisions: list[dict[str, object]]
    refunds: list[dict[str, object]]


def _inputs(rng: random.Random, fraud: bool) -> FeatureInputs:
    # A quarter of fraud hides in normal-looking traffic, so the classes overlap.
    loud = fraud and rng.random() < 0.75
    burst = rng.randint(3, 9) if loud else rng.choice((0, 0, 0, 1, 1, 2))
    amount = rng.randint(30_000, 300_000) if loud else rng.randint(500, 60_000)
    has_card = rng.random() < 0.9
    return FeatureInputs(
        amount_minor=amount,
        currency="HKD",
        customer=Window(count_1m=min(burst, 2), count_1h=burst + 1, count_24h=burst + 3),
        card=Window(1, burst + 1, burst + 2, amount * (burst + 1)) if has_card else None,
        device=Window(0, rng.randint(1, 3), rng.randint(1, 6)),
        customer_mean_minor=None if rng.random() < 0.1 else float(rng.randint(2_000, 40_000)),
        customer_prior_payments=rng.randint(0, 3) if loud else rng.randint(0, 60),
        customer_guest=rng.random() < (0.5 if loud else 0.2),
        new_device=rng.random() < (0.8 if loud else 0.1),
        new_country=rng.random() < (0.6 if loud else 0.05),
        foreign_country=rng.random() < (0.7 if loud else 0.15),
        merchant_refund_rate=rng.random() * 0.05,
        merchant_category=rng.choice(("retail", "ecommerce", "food", "services")),
        graph=None
        if rng.random() < 0.1
        else GraphView(
            device_customers=rng.randint(1, 6) if loud else 1,
            card_customers=rng.randint(1, 3) if loud else 1,
            fraud_linked_customers=rng.randint(1, 3) if loud and rng.random() < 0.5 else 0,
        ),
    )


def _rules_score(inputs: FeatureInputs, rng: random.Random) -> float:
    """A partial, noisy view of the signal, like a hand-written rule set."""
    score = 0.35 * bool(inputs.new_device) + 0.25 * bool(inputs.foreign_country)
    score += 0.1 * min((inputs.card.count_1h if inputs.card else 0) / 5, 1.0)
    return min(1.0, max(0.0, score + rng.uniform(-0.2, 0.2)))


def make_ledger(
    seed: int,
    start: datetime,
    days: int = 10,
    payments_per_day: int = 150,
    fraud_rate: float = 0.06,
    prefix: str = "syn",
) -> SyntheticLedger:
    """Decisions (with refunds for the fraudulent ones) spread over ``days`` from ``start``.

    ``start`` should be naive UTC (the ledger's DATETIME convention).
    """
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not secrets
    customers = [f"{prefix}-c{i}" for i in range(max(10, payments_per_day))]
    cards = {c: uuid.UUID(int=rng.getrandbits(128)).hex for c in customers}
    decisions: list[dict[str, object]] = []
    refunds: list[dict[str, object]] = []
    for n in range(days * payments_per_day):
        at = start + timedelta(days=n // payments_per_day, seconds=rng.randrange(86_400))
        fraud = rng.random() < fraud_rate
        inputs = _inputs(rng, fraud)
        customer = rng.choice(customers)
        payment_id = f"{prefix}-p{n}"
        rules = _rules_score(inputs, rng)
        decisions.append(
            {
                "payment_id": payment_id,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "customer_id": customer,
                "merchant_id": f"{prefix}-m{rng.randrange(8)}",
                "card_fingerprint": cards[customer] if inputs.card is not None else None,
                "amount_minor": inputs.amount_minor,
                "currency": inputs.currency,
                "decision": "review" if rules >= 0.5 else "approve",
                "score": rules,
                "rules_score": rules,
                "reasons": "",
                "model_version": None,
                "degraded": False,
                "features": json.dumps(compute_features(inputs)),
                "authorized_at": at,
                "decided_at": at + timedelta(milliseconds=5),
            }
        )
        if fraud:
            refunds.append(
                {
                    "refund_id": f"{prefix}-r{n}",
                    "payment_id": payment_id,
                    "customer_id": customer,
                    "merchant_id": decisions[-1]["merchant_id"],
                    "amount_minor": inputs.amount_minor,
                    "currency": inputs.currency,
                    "reason": "fraud_chargeback",
                    "issued_at": at + timedelta(days=3),
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                }
            )
    return SyntheticLedger(decisions, refunds)


def write_ledger(db: Database, ledger: SyntheticLedger, timeout_s: float = 30.0) -> None:
    """Insert the rows on the primary and wait until the replica shows them.

    Raises:
        TimeoutError: the replica did not catch up within ``timeout_s``.
    """
    with db.write_session() as session:
        session.execute(insert(RiskDecision), ledger.decisions)
        if ledger.refunds:
            session.execute(insert(Refund), ledger.refunds)
        session.commit()
        position = db.last_commit_position(session)
    if not db.wait_for_replica(position, timeout_s=timeout_s):
        raise TimeoutError(f"the replica did not apply {position} within {timeout_s} s")
    with db.read_session() as session:
        count = session.execute(select(func.count()).select_from(RiskDecision)).scalar_one()
    if count < len(ledger.decisions):
        raise TimeoutError(f"the replica shows {count} of {len(ledger.decisions)} decisions")
