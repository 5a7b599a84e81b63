"""Two risk agents in one group against the real broker: they share the partitions, and one
killed with SIGKILL mid-stream leaves every payment decided exactly once."""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from harness.worlds import create_world
from paystream.bus.kafka import consumer_lag
from paystream.contracts.events import PaymentAuthorized
from paystream.money import Money
from paystream.stores.mysql import Database

pytestmark = pytest.mark.integration
METRICS = (9581, 9582)


def _payments(tag: str, start: int, n: int) -> list[PaymentAuthorized]:
    at = datetime.now(UTC)
    return [
        PaymentAuthorized(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}-p{i}"),
            occurred_at=at,
            payment_id=f"{tag}-p{i}",
            customer_id=f"{tag}-c{i % 97}",
            merchant_id=f"{tag}-m{i % 7}",
            amount=Money(amount_minor=1000 + i, currency="HKD"),
            card_fingerprint=f"{i % 97:032x}",
            device_id=f"{tag}-d{i % 97}",
        )
        for i in range(start, start + n)
    ]


def _decided(world) -> dict[str, int]:
    db = Database(world.settings.mysql)
    try:
        with db.writer.connect() as conn:
            rows = conn.execute(
                text("SELECT payment_id, COUNT(*) FROM risk_decisions GROUP BY payment_id")
            ).all()
    finally:
        db.dispose()
    return {p: n for p, n in rows}


def _batches_scored(port: int) -> float:
    try:
        reply = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except OSError:  # not listening yet
        return 0.0
    body = reply.read().decode()
    for line in body.splitlines():
        if line.startswith('paystream_risk_stage_seconds_count{stage="features"}'):
            return float(line.split()[-1])
    return 0.0


def test_two_agents_share_partitions_and_a_sigkill_loses_no_decision(stack, settings, tmp_path):
    import asyncio

    world = create_world(settings, tmp_path / "logs", partitions=4)
    tag = world.settings.streams.namespace
    try:
        world.start_worker()
        first = world.start_worker(kind="risk", metrics_port=METRICS[0])
        world.start_worker(kind="risk", metrics_port=METRICS[1])
        # Publish in small rounds until both agents have joined and scored a batch: the
        # group splits the partitions between them.
        sent, deadline = 0, time.monotonic() + 120
        while not all(_batches_scored(port) > 0 for port in METRICS):
            assert time.monotonic() < deadline, "the second agent never got a partition"
            world.publish(_payments(tag, sent, 50))
            sent += 50
            time.sleep(1)
        world.wait_all_caught_up(240)
        world.kill(first, signal.SIGKILL)
        world.publish(_payments(tag, sent, 400))
        # The survivor takes the dead agent's partitions after the session times out.
        world.wait_all_caught_up(240)
        payments = [world.settings.kafka.topic("payments")]
        assert (
            asyncio.run(consumer_lag(world.settings.kafka, world.settings.risk.app_id, payments))
            == 0
        )
        time.sleep(2)
        decided = _decided(world)
        assert len(decided) == sent + 400
        assert set(decided.values()) == {1}
    finally:
        world.destroy()
