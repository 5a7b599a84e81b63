"""Labelled data for the fraud benchmark: simulated traffic through the real workers.

Events are published one simulated day at a time, each after the previous day is fully
materialized and scored, which is how history looks to the risk agent in production.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.progress import Progress

from harness.worlds import StreamWorld, create_world
from ingest.simulator.generator import SimulationConfig, simulate
from paystream.settings import REPO_ROOT, Settings

LOGS = REPO_ROOT / ".stack" / "bench" / "fraud"


def simulated_world(
    settings: Settings, seed: int, customers: int, days: int
) -> tuple[StreamWorld, Path]:
    """An isolated world holding the simulation's decisions; returns it and the labels file."""
    generous = settings.model_copy(
        update={"risk": settings.risk.model_copy(update={"graph_timeout_ms": 5000})}
    )
    world = create_world(generous, LOGS, partitions=4)
    config = SimulationConfig(seed=seed, customers=customers, days=days)
    by_day = defaultdict(list)
    labels_file = LOGS / f"labels-{seed}.jsonl"
    LOGS.mkdir(parents=True, exist_ok=True)
    with labels_file.open("w") as out:
        for event, label in simulate(config):
            by_day[event.occurred_at.date()].append(event)
            if label is not None:
                out.write(label.to_json() + "\n")
    try:
        world.start_worker()
        world.start_worker(kind="risk")
        with Progress() as progress:
            task = progress.add_task("simulated days through the workers", total=len(by_day))
            for day in sorted(by_day):
                world.publish(by_day[day])
                world.wait_all_caught_up(600)
                progress.advance(task)
    except BaseException:
        world.destroy()
        raise
    return world, labels_file
