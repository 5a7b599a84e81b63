"""Lakehouse fixtures: ONE Spark session per test session, and one small built lakehouse.

The lakehouse is built from an isolated stream world (its own topics, ledger database and
graph namespace): simulated events are published, a real stream worker materializes the
ledger, then bronze → silver → gold runs into a temporary root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from harness.worlds import StreamWorld, create_world
from ingest.simulator.generator import SimulationConfig, simulate
from lakehouse.jobs import BuildReport, run_build
from paystream.settings import Settings
from paystream.stores.mysql import Database
from paystream.stores.spark import build_spark
from tests.support.card_numbers import card_number_records

SIM = SimulationConfig(seed=515, merchants=6, customers=40, days=3)


@pytest.fixture(scope="session")
def spark(stack, settings, tmp_path_factory):
    """The test session's only SparkSession (local, small shuffles)."""
    root = tmp_path_factory.mktemp("spark-home")
    lake = settings.lakehouse.model_copy(update={"root": root, "spark_master": "local[2]"})
    return build_spark(lake, "paystream-tests")


@dataclass
class Lake:
    """A built lakehouse and the world it was built from."""

    world: StreamWorld
    settings: Settings
    first: BuildReport
    published: int
    decided: dict[str, str]
    #: Of ``published``: records carrying a card number (bronze keeps them masked, refused).
    hostile: int = 0

    @property
    def root(self) -> str:
        return str(self.settings.lakehouse.root)

    def table(self, layer: str, name: str) -> str:
        return f"{self.root}/{layer}/{name}"


def _insert_decisions(world: StreamWorld) -> dict[str, str]:
    """Two risk decisions written to the world's ledger, as the risk agent would."""
    db = Database(world.settings.mysql)
    try:
        with db.writer.begin() as conn:
            payments = conn.execute(
                text(
                    "SELECT payment_id, customer_id, merchant_id, amount_minor, currency, "
                    "authorized_at FROM payments WHERE authorized_at IS NOT NULL "
                    "ORDER BY payment_id LIMIT 2"
                )
            ).all()
            decided = {}
            for (pid, cust, merch, amount, cur, at), decision in zip(
                payments, ("decline", "review"), strict=True
            ):
                conn.execute(
                    text(
                        "INSERT INTO risk_decisions (payment_id, event_id, customer_id, "
                        "merchant_id, card_fingerprint, amount_minor, currency, decision, score, "
                        "rules_score, reasons, model_version, degraded, features, "
                        "authorized_at, decided_at) VALUES (:p, UUID(), :c, :m, NULL, :a, :cur, "
                        ":d, 0.9, 0.8, 'VELOCITY', 'test', 0, '{}', :at, :now)"
                    ),
                    {
                        "p": pid, "c": cust, "m": merch, "a": amount, "cur": cur, "d": decision,
                        "at": at, "now": datetime.now(UTC).replace(tzinfo=None),
                    },
                )  # fmt: skip
                decided[pid] = decision
        return decided
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def lake(stack, settings, spark, tmp_path_factory):
    """A lakehouse built once from a small simulated world (shared by the lakehouse tests)."""
    base = tmp_path_factory.mktemp("lakehouse")
    world = create_world(settings, base / "logs", partitions=2)
    try:
        events = [e for e, _ in simulate(SIM)]
        # Card numbers in every kind of field ride along: no layer may store one.
        hostile = card_number_records(world.settings.kafka, events)
        world.start_worker()
        world.publish(events, hostile)
        world.wait_caught_up(timeout_s=180)
        world.wait_processed(len({e.event_id for e in events}), timeout_s=120)
        decided = _insert_decisions(world)
        lake_settings = world.settings.model_copy(
            update={"lakehouse": settings.lakehouse.model_copy(update={"root": base / "root"})}
        )
        first = run_build(lake_settings, spark)
        yield Lake(world, lake_settings, first, len(events) + len(hostile), decided, len(hostile))
    finally:
        world.destroy()
