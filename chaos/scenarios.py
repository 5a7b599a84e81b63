"""The fault scenarios: each injects one real failure into the local stack under load.

Every scenario returns when the failure is over, with the moments it started and ended; the
drill then waits for the workers to catch up and reconciles. Services are stopped and
started through the same :class:`~compose.local.stack.LocalStack` as ``paystream stack``.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import text

from chaos.drill import Drill, DrillResult, kill_points
from compose.local.stack import LocalStack
from harness.worlds import create_world
from ingest.simulator.generator import SimulationConfig, simulate
from paystream.contracts.events import Event
from paystream.settings import REPO_ROOT, Settings
from paystream.stores.mysql import Database

log = logging.getLogger(__name__)

Fault = Callable[[Drill], tuple[float, float]]


def _quiet(line: str) -> None:
    log.info("stack: %s", line)


def worker_kill(drill: Drill) -> tuple[float, float]:
    """``kill -9`` a worker five times at random points; each time a new one takes over."""
    rng = random.Random(7)  # noqa: S311 - kill times, not secrets
    first = last = time.monotonic()
    for i, point in enumerate(kill_points(rng, 5)):
        drill.at(point)
        victims = drill.live_workers()
        if not victims:
            continue
        victim = rng.choice(victims)
        if i == 0:
            first = time.monotonic()
        drill.world.kill(victim, signal.SIGKILL)
        drill.world.start_worker()
        last = time.monotonic()
    return first, last


def _outage(service: str, seconds: float, during: Callable[[Drill], None] | None = None) -> Fault:
    def fault(drill: Drill) -> tuple[float, float]:
        drill.at(0.3)
        start = time.monotonic()
        drill.stack.down(_quiet, [service])
        if during is not None:
            during(drill)
        time.sleep(max(0.0, start + seconds - time.monotonic()))
        drill.stack.up(_quiet, [service])
        return start, time.monotonic()

    return fault


def _replica_serves_reads(drill: Drill) -> None:
    """While the primary is down, readers (the API's path) still answer from the replica."""
    time.sleep(2)
    database = Database(drill.world.settings.mysql)
    try:
        with database.read_session() as session:
            n = session.execute(text("SELECT COUNT(*) FROM payments")).scalar_one()
        drill.result.notes.append(f"replica answered reads during the outage ({n:,} payments)")
    except Exception as exc:
        drill.result.notes.append(f"replica read FAILED during the outage: {exc}")
    finally:
        database.dispose()


def _ledger_keeps_going(drill: Drill) -> None:
    """While the graph is down, the ledger (its own consumer group) keeps applying events."""
    before = drill.world.processed()
    time.sleep(20)
    after = drill.world.processed()
    verdict = "kept going" if after > before else "STALLED"
    drill.result.notes.append(
        f"ledger {verdict} while the graph was down: {before:,} → {after:,} events in 20 s"
    )


def _restart(service: str) -> Fault:
    """Stop and start a service at once: an in-memory store comes back empty."""
    return _outage(service, 0.0)


def rebalance(drill: Drill) -> tuple[float, float]:
    """Scale out from two workers to three, then back to two, under load."""
    drill.at(0.3)
    start = time.monotonic()
    third = drill.world.start_worker()
    drill.at(0.65)
    # A clean stop (SIGTERM) is a scale-in: the worker leaves the group.
    drill.world.kill(third, signal.SIGTERM)
    return start, time.monotonic()


SCENARIOS: dict[str, Fault] = {
    "worker_kill": worker_kill,
    "kafka_restart": _outage("kafka", 20.0),
    "mysql_primary_outage": _outage("mysql-primary", 30.0, _replica_serves_reads),
    "redis_restart": _restart("redis"),
    "gremlin_restart": _restart("gremlin"),
    # The graph projection down for a minute: the ledger must not wait for it, and the graph
    # (an in-memory TinkerGraph, so empty afterwards) is rebuilt from the ledger and catches up.
    "graph_outage": _outage("gremlin", 60.0, _ledger_keeps_going),
    "rebalance": rebalance,
}


def drill_events(count: int, seed: int = 3) -> list[Event]:
    """The first ``count`` events of a simulation large enough to supply them."""
    customers = max(200, count // 40)
    events = [e for e, _ in simulate(SimulationConfig(seed=seed, customers=customers, days=14))]
    if len(events) < count:
        raise ValueError(f"the simulation yields {len(events)} events, fewer than {count}")
    return events[:count]


def run_scenario(
    settings: Settings, scenario: str, events: list[Event], rate: float, logs: Path
) -> DrillResult:
    """Run one scenario in a fresh isolated world and return its reconciled result."""
    fault = SCENARIOS[scenario]
    world = create_world(settings, logs / scenario, partitions=6)
    try:
        drill = Drill(scenario, world, LocalStack(settings), events, rate)
        result = drill.run(fault)
        if scenario == "mysql_primary_outage" and result.worker_restarts:
            result.notes.append(
                f"workers crashed {result.worker_restarts} time(s) during the outage"
            )
        return result
    finally:
        world.destroy()


def run_drills(
    settings: Settings,
    scenarios: Sequence[str],
    events: int,
    rate: float,
    log: Callable[[str], None],
    logs: Path = REPO_ROOT / ".stack" / "chaos",
) -> list[DrillResult]:
    """Bring the local stack up and run ``scenarios`` in turn on the same load.

    Each scenario gets ``events`` events of steady load at ``rate`` events/s in its own
    isolated world (worker logs under ``logs``). ``log`` hears the stack's start, each
    scenario's start and its notes. Returns one reconciled result per scenario, in order.
    """
    LocalStack(settings).up(log)
    load = drill_events(events)
    results = []
    for name in scenarios:
        log(f"{name}: running ({len(load) / rate:.0f} s of load)")
        result = run_scenario(settings, name, load, rate, logs)
        for note in result.notes:
            log(f"{name}: {note}")
        results.append(result)
    return results
