"""Security probes of tenancy and money: what one merchant may read or change of another's.

Part of ``python -m bench.security``; each probe runs against the real services of the
throw-away world (the API on loopback, its ledger database), or the shipped manifests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from bench.lib.probe import Probe
from paystream.contracts.events import PaymentCaptured, RefundIssued, event_id_for
from paystream.money import Money
from paystream.settings import REPO_ROOT, Settings

MLFLOW_MANIFEST = REPO_ROOT / "compose" / "k8s" / "base" / "mlflow.yaml"


def tenancy_probes(
    client: httpx.Client, settings: Settings, merchants: list[str], customers: list[str]
) -> list[Probe]:
    """Cross-merchant reads, cross-merchant declines, over-refunds and MLflow's auth."""
    return [
        _cross_merchant_recommendations(client, merchants, customers),
        _over_refund(settings),
        _network_only_decline(),
        _mlflow_auth(MLFLOW_MANIFEST),
    ]


def _cross_merchant_recommendations(
    client: httpx.Client, merchants: list[str], customers: list[str]
) -> Probe:
    # The world's customers all paid merchants[0]; customers[1]'s own list was learnt at
    # merchants[1]. The caller's payment makes the customer visible, not the other's data.
    attack = "read another merchant's list for a customer one paid oneself"
    response = client.get(f"/v1/customers/{customers[1]}/recommendations")
    if response.status_code != 200:
        return Probe("cross_merchant_recommendations", attack, True, str(response.status_code))
    fallback = response.json().get("fallback") is True
    return Probe(
        "cross_merchant_recommendations",
        attack,
        fallback,
        "own popular list" if fallback else "200",
    )


def _over_refund(settings: Settings) -> Probe:
    from paystream.stores.mysql import Database
    from streams.sinks.ledger import LedgerSink
    from streams.sinks.port import Envelope

    tag = uuid.uuid4().hex[:8]
    at = datetime.now(UTC)
    common = {"customer_id": f"probe-c-{tag}", "merchant_id": f"probe-m-{tag}"}
    capture = PaymentCaptured(
        event_id=event_id_for("probe", tag, "capture"),
        occurred_at=at,
        payment_id=f"probe-p-{tag}",
        amount=Money(amount_minor=1_000, currency="HKD"),
        **common,
    )
    refund = RefundIssued(
        event_id=event_id_for("probe", tag, "refund"),
        occurred_at=at,
        refund_id=f"probe-r-{tag}",
        payment_id=capture.payment_id,
        amount=Money(amount_minor=5_000, currency="HKD"),
        **common,
    )
    database = Database(settings.mysql)
    try:
        sink = LedgerSink(database)
        sink.write([Envelope(capture, "probe", 0, 0)])
        snapshot = sink.write([Envelope(refund, "probe", 0, 1)])
    finally:
        database.dispose()
    totals = snapshot.merchants.get((common["merchant_id"], "HKD"))
    blocked = bool(snapshot.refused) and (totals is None or totals.refunded_minor == 0)
    seen = snapshot.refused[0].reason if snapshot.refused else "booked"
    return Probe("over_refund", "refund 5x what was captured", blocked, seen)


def _network_only_decline() -> Probe:
    from types import SimpleNamespace

    from paystream.contracts.events import Decision, PaymentAuthorized
    from paystream.contracts.fraud_features import GraphView, Window
    from paystream.settings import RiskSettings
    from risk.lookup import LocalWindows, RedisFacts
    from risk.scorer import RiskScorer

    # What another merchant can forge: a card burst and flagged links, all at its own shop.
    burst = Window(count_1m=6, count_1h=12, count_24h=12, amount_1h_minor=12_000)
    once = Window(count_1m=1, count_1h=1, count_24h=1, amount_1h_minor=12_000)
    facts = RedisFacts(
        customer=once,
        card=burst,
        device=once,
        local=LocalWindows(once, once, once),
        customer_profile={},
        merchant_profile={},
        device_first_seen_ms=None,
        country_first_seen_ms=None,
        earliest_device_ms=None,
        earliest_country_ms=None,
        stored={},
    )
    payment = PaymentAuthorized(
        event_id=event_id_for("probe", "network"),
        occurred_at=datetime.now(UTC),
        payment_id="probe-network",
        customer_id="probe-c",
        merchant_id="probe-m",
        amount=Money(amount_minor=12_000, currency="HKD"),
        device_id="probe-d",
        card_fingerprint="ab" * 16,
    )
    ring = GraphView(device_customers=4, card_customers=3, fraud_linked_customers=2)
    scorer = RiskScorer(None, None, SimpleNamespace(current=None), RiskSettings())  # type: ignore[arg-type]
    [decided] = scorer._decide([(payment, facts, ring)])
    blocked = decided.decision is not Decision.DECLINE
    attack = "decline another merchant's customer with forged shared evidence"
    return Probe("network_only_decline", attack, blocked, str(decided.decision))


def _mlflow_auth(manifest: Path) -> Probe:
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    server = next(d for d in docs if d["kind"] == "Deployment")
    argv = [
        *server["spec"]["template"]["spec"]["containers"][0].get("command", []),
        *server["spec"]["template"]["spec"]["containers"][0].get("args", []),
    ]
    blocked = "--app-name=basic-auth" in argv
    attack = "register a model on the cluster's MLflow without a password"
    return Probe("mlflow_without_auth", attack, blocked, "basic-auth" if blocked else "open")
