"""Benchmark: how long the local stack takes to come up, cold and warm.

* ``stack.cold_start_s``: a fresh checkout's first ``stack up``: jars fetched from Maven
  Central with ``mvn`` into an empty cache, data folders initialised (MariaDB install-db, Kafka
  storage format), every service started, replication wired, all health checks green.
  Debian packages are already installed on the machine and are not part of it.
* ``stack.warm_start_s``: ``stack up`` after ``stack down`` with caches and data in place.
  Its reference is the warm start of the Kafka broker alone, the slowest single service:
  the closer the two, the better the services' start-ups overlap.

Runs use their own folders and ports (+10000), so a running development stack is untouched.

    python -m bench.stack --runs 3
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from compose.local.stack import LocalStack
from paystream.settings import REPO_ROOT, Settings, StackSettings, get_settings

console = Console()
OFFSET = 10_000


def isolated(base: Settings, root: Path) -> Settings:
    """Settings for a throw-away stack under ``root`` on shifted ports."""
    ports = base.stack
    stack = StackSettings(
        home=root / "home",
        cache=root / "cache",
        kafka_port=ports.kafka_port + OFFSET,
        kafka_controller_port=ports.kafka_controller_port + OFFSET,
        mysql_primary_port=ports.mysql_primary_port + OFFSET,
        mysql_replica_port=ports.mysql_replica_port + OFFSET,
        redis_port=ports.redis_port + OFFSET,
        gremlin_port=ports.gremlin_port + OFFSET,
        mlflow_port=ports.mlflow_port + OFFSET,
    )
    return base.model_copy(update={"stack": stack})


def timed_up(stack: LocalStack, names: list[str] | None = None) -> float:
    """Seconds for ``up`` to return with every selected service healthy."""
    started = time.monotonic()
    stack.up(lambda line: None, names)
    return time.monotonic() - started


def main(runs: Annotated[int, typer.Option(help="Measured runs.")] = 3) -> None:
    """Measure stack.cold_start_s and stack.warm_start_s."""
    cold: list[float] = []
    warm: list[float] = []
    kafka_alone: list[float] = []
    scratch = REPO_ROOT / ".stack" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    for run in range(1, runs + 1):
        root = Path(tempfile.mkdtemp(dir=scratch, prefix="stack-"))
        stack = LocalStack(isolated(get_settings(), root))
        try:
            cold.append(timed_up(stack))
            stack.down(lambda line: None)
            warm.append(timed_up(stack))
            stack.down(lambda line: None)
            kafka_alone.append(timed_up(stack, ["kafka"]))
        finally:
            stack.down(lambda line: None)
            shutil.rmtree(root, ignore_errors=True)
        console.log(
            f"run {run}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s, "
            f"Kafka alone {kafka_alone[-1]:.1f} s"
        )
    command = f"python -m bench.stack --runs {runs}"
    write(
        "Local stack start-up",
        [
            Figure(
                "stack.cold_start_s",
                "s",
                cold,
                command,
                "warm start, same run",
                warm,
                higher_is_better=False,
            ),
            Figure(
                "stack.warm_start_s",
                "s",
                warm,
                command,
                "Kafka broker alone, warm, same run",
                kafka_alone,
                higher_is_better=False,
            ),
        ],
        notes=(
            "Cold: empty jar cache and data folders, so it includes the `mvn` downloads from "
            "Maven Central (Kafka, Gremlin Server, Delta and connector jars), MariaDB "
            "install-db on both servers, Kafka storage format, start-up and GTID replication "
            "wiring. The Debian packages (MariaDB, Redis) were already installed. Warm: data "
            "and caches in place after `stack down`. Both end when every health check passes "
            "(Kafka answers metadata, both MariaDB servers answer SQL and the replica's "
            "threads run, Redis PING, Gremlin evaluates a script, MLflow /health)."
        ),
    )


if __name__ == "__main__":
    typer.run(main)
