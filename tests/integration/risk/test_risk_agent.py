"""The risk agent against the real stack: reason codes, one decision per payment, replays,
degraded mode and hot model reloads."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from paystream.contracts.events import PaymentAuthorized, RiskDecided
from paystream.stores.mysql import Database

pytestmark = pytest.mark.integration

EXPECTED = {
    "card_testing": {"CARD_TESTING"},
    "velocity_attack": {"VELOCITY"},
    "new_device_new_country": {"NEW_DEVICE_NEW_COUNTRY"},
    "fraud_ring": {"SHARED_DEVICE", "SHARED_CARD", "FRAUD_LINKED"},
}


def _decisions(world) -> dict[str, dict]:
    db = Database(world.settings.mysql)
    try:
        with db.writer.connect() as conn:
            rows = conn.execute(text("SELECT * FROM risk_decisions")).mappings().all()
    finally:
        db.dispose()
    return {r["payment_id"]: dict(r) for r in rows}


def _topic_decisions(world) -> list[RiskDecided]:
    async def read() -> list[RiskDecided]:
        consumer = AIOKafkaConsumer(
            world.settings.kafka.topic("decisions"),
            **world.settings.kafka.client_options(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[RiskDecided] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1500)
                if not batch:
                    return found
                for records in batch.values():
                    found.extend(RiskDecided.model_validate_json(r.value) for r in records)
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _authorizations(world) -> list[PaymentAuthorized]:
    return [e for e in world.events if isinstance(e, PaymentAuthorized)]


def test_each_injected_fraud_pattern_gets_its_expected_reason_code(risk_world):
    decisions = _decisions(risk_world)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for payment_id, label in risk_world.labels.items():
        totals[label.pattern] += 1
        reasons = set(decisions[payment_id]["reasons"].split(","))
        if reasons & EXPECTED[label.pattern]:
            hits[label.pattern] += 1
    assert set(totals) == set(EXPECTED)
    for pattern in EXPECTED:
        assert hits[pattern] > 0, f"{pattern}: no labelled payment got {EXPECTED[pattern]}"
    # Card testing and velocity are bursts: once the burst is under way, every attempt shows.
    assert hits["card_testing"] / totals["card_testing"] >= 0.5
    assert hits["velocity_attack"] / totals["velocity_attack"] >= 0.5


def test_every_authorization_gets_exactly_one_decision_in_ledger_redis_and_topic(risk_world):
    import redis

    from paystream.contracts.served import ServedKeys, StoredDecision

    auths = _authorizations(risk_world)
    decisions = _decisions(risk_world)
    assert set(decisions) == {a.payment_id for a in auths}
    on_topic = _topic_decisions(risk_world)
    assert len({d.event_id for d in on_topic}) == len(auths)
    assert {d.payment_id for d in on_topic} == set(decisions)
    client = redis.Redis.from_url(
        risk_world.settings.redis.url.get_secret_value(), decode_responses=True
    )
    keys = ServedKeys(risk_world.settings.streams.namespace)
    sample = auths[:: max(1, len(auths) // 25)]
    for auth in sample:
        stored = StoredDecision.from_hash(client.hgetall(keys.decision(auth.payment_id)))
        row = decisions[auth.payment_id]
        assert stored.decision == row["decision"]
        assert stored.event_id == row["event_id"]
    client.close()
    # The logged features are the model's full vector, JSON with nulls for missing values.
    from paystream.contracts.fraud_features import FEATURES

    logged = json.loads(decisions[auths[0].payment_id]["features"])
    assert set(logged) == set(FEATURES)


def test_new_customers_are_decided_with_a_reason_code_saying_so(risk_world):
    decisions = _decisions(risk_world).values()
    no_history = [d for d in decisions if "NO_HISTORY" in d["reasons"].split(",")]
    assert no_history, "the first payment of new customers must be marked NO_HISTORY"
    assert all(d["degraded"] for d in no_history)
    assert all(d["decision"] in {"approve", "review", "decline"} for d in no_history)


def test_replaying_payments_produces_no_duplicate_decisions(risk_world):
    before = _decisions(risk_world)
    before_topic = _topic_decisions(risk_world)
    payments = [e for e in risk_world.events if e.topic == "payments"]
    risk_world.publish(payments)
    risk_world.wait_all_caught_up(240)
    after = _decisions(risk_world)
    assert after == before
    after_topic = _topic_decisions(risk_world)
    assert len(after_topic) == len(before_topic)


def test_a_hot_reload_switches_the_model_without_losing_decisions(risk_world):
    """Train a model on the logged features, promote it, and watch the running agent use it."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from paystream.contracts.fraud_features import to_matrix
    from paystream.stores.mlflow import CHAMPION, register

    settings = risk_world.settings
    decisions = list(_decisions(risk_world).values())
    rows = to_matrix([json.loads(d["features"]) for d in decisions])
    labels = [1 if d["payment_id"] in risk_world.labels else 0 for d in decisions]
    from ml.fraud.model import empty_columns, fill_empty

    model = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    # A few minutes of history leave the day-long fraud rates empty: filled as training does.
    matrix = np.asarray(rows, dtype=float)
    model.fit(fill_empty(matrix, empty_columns(matrix)), labels)
    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    mlflow.set_experiment("paystream-tests")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            skops_trusted_types=[
                "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
            ],
        )
    name = settings.risk.model_name
    version = register(settings.mlflow, f"runs:/{run.info.run_id}/model", name)
    from mlflow import MlflowClient

    from paystream.contracts.fraud_features import FEATURES
    from paystream.stores.fraud_model import DECLINE_TAG, FEATURES_TAG, REVIEW_TAG

    client = MlflowClient(settings.mlflow.tracking_uri)
    # The tags `paystream train fraud` sets: the agent loads only versions that carry them.
    for tag, value in (
        (FEATURES_TAG, ",".join(FEATURES)),
        (REVIEW_TAG, "0.5"),
        (DECLINE_TAG, "0.9"),
    ):
        client.set_model_version_tag(name, version, tag, value)
    client.set_registered_model_alias(name, CHAMPION, version)

    # New payments for known customers, after the simulation ended.
    auths = _authorizations(risk_world)
    later = max(a.occurred_at for a in auths) + timedelta(hours=1)

    def again(i: int, a: PaymentAuthorized, tag: str) -> PaymentAuthorized:
        return a.model_copy(
            update={
                "event_id": uuid.uuid5(a.event_id, tag),
                "payment_id": f"{a.payment_id}-{tag}",
                "occurred_at": later + timedelta(seconds=i),
            }
        )

    # The agent polls the alias every second; loading the model takes a few more. Probe
    # until a decision carries the new version, then check that nothing was lost meanwhile.
    probes: list[PaymentAuthorized] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        probe = again(len(probes), auths[len(probes) % len(auths)], f"probe{len(probes)}")
        probes.append(probe)
        risk_world.publish([probe])
        risk_world.wait_all_caught_up(120)
        if _decisions(risk_world)[probe.payment_id]["model_version"] == version:
            break
    decided = _decisions(risk_world)
    assert all(p.payment_id in decided for p in probes), "a decision was lost during the swap"
    assert decided[probes[-1].payment_id]["model_version"] == version
    fresh = [again(1000 + i, a, "after") for i, a in enumerate(auths[:40])]
    risk_world.publish(fresh)
    risk_world.wait_all_caught_up(240)
    decisions_after = _decisions(risk_world)
    new = [decisions_after[a.payment_id] for a in fresh]
    assert all(d["model_version"] == version for d in new)
    assert all("RULES_ONLY" not in d["reasons"].split(",") for d in new)
