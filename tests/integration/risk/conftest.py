"""A world where simulated traffic with labelled fraud went through the risk agent.

Events are published one simulated day at a time, each day after the previous one is fully
materialized: that is how history looks to the risk agent in production (yesterday is in
Redis and the graph), whereas publishing days of traffic at once would score every payment
before any history landed.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from harness.worlds import create_world
from ingest.simulator.generator import SimulationConfig, simulate

CONFIG = SimulationConfig(seed=11, customers=150, days=6, merchants=12)


@pytest.fixture(scope="module")
def risk_world(stack, settings, tmp_path_factory):
    # A generous graph budget: these tests are about what is decided, not how fast.
    fast = settings.model_copy(
        update={
            "risk": settings.risk.model_copy(update={"graph_timeout_ms": 5000, "model_poll_s": 1})
        }
    )
    world = create_world(fast, tmp_path_factory.mktemp("risk") / "logs", partitions=2)
    pairs = list(simulate(CONFIG))
    by_day = defaultdict(list)
    for event, _ in pairs:
        by_day[event.occurred_at.date()].append(event)
    world.start_worker()
    world.start_worker(kind="risk")
    try:
        for day in sorted(by_day):
            world.publish(by_day[day])
            world.wait_all_caught_up(240)
        world.events = [e for e, _ in pairs]
        world.labels = {label.payment_id: label for _, label in pairs if label}
        yield world
    finally:
        world.destroy()
