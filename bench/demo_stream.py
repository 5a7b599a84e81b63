"""The Online Retail log materialized as ``make demo`` runs it, beside the isolated figure.

``streams.online_retail_demo_materialized_s``: wall seconds from starting ``paystream replay
online-retail`` (the demo's step 4, the whole file, as fast as it goes) until every consumer
group (the ledger, Redis and graph sinks and the risk agent) has committed everything and the
projections are materialized. The sink workers (``paystream streams run``, three processes)
and one risk agent (``paystream streams risk``) are already running when the replay starts,
as the demo's are, and the services ``make demo`` leaves running (its own pipeline, the
lakehouse service, the SQL endpoint, the API) idle beside them. Each run is an isolated
world (own topics, ledger database and Redis namespace), so a run never replays onto
another's state. Reference, same run: ``streams.online_retail_materialized_s``'s way (the
log pre-loaded, then the sinks alone, first applied event to caught up).

    .venv/bin/python -m bench.demo_stream --runs 3
"""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.platform_setup import bring_up
from bench.lib.record import Figure, write
from bench.lib.stream_throughput import throughput_run
from harness.worlds import PAYSTREAM, create_world
from paystream.settings import REPO_ROOT, Settings, get_settings

console = Console()
LOGS = REPO_ROOT / ".stack" / "bench" / "demo-stream"
SECTION = "Online Retail as the demo runs it"


def demo_like_run(settings: Settings) -> tuple[float, float]:
    """One run: (seconds to publish, seconds from the replay's start to all caught up)."""
    world = create_world(settings, LOGS, partitions=settings.kafka.partitions)
    try:
        world.start_worker()
        world.start_worker(kind="risk")
        started = time.monotonic()
        with (LOGS / "replay.log").open("ab") as log:
            subprocess.run(
                [PAYSTREAM, "replay", "online-retail"],
                env=world.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=1800,
            )
        published = time.monotonic() - started
        world.wait_all_caught_up(timeout_s=1800)
        return published, time.monotonic() - started
    finally:
        world.destroy()


def main(
    runs: Annotated[int, typer.Option(help="Measured runs (medians reported).")] = 3,
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md and JSON.")] = True,
) -> None:
    """Time the Online Retail log through the running pipeline, beside the isolated figure."""
    settings = get_settings()
    LOGS.mkdir(parents=True, exist_ok=True)
    started = bring_up(settings, lambda line: console.log(line))
    demo, publish, isolated = [], [], []
    for run in range(runs):
        pub, total = demo_like_run(settings)
        demo.append(total)
        publish.append(pub)
        alone = throughput_run(settings, "retail", limit=None)
        isolated.append(alone.seconds)
        console.log(
            f"run {run + 1}: as the demo runs it {total:.1f} s (published in {pub:.1f} s); "
            f"pre-loaded, sinks alone {alone.seconds:.1f} s"
        )
    command = f"python -m bench.demo_stream --runs {runs}"
    fresh = f"started by the benchmark: {', '.join(started)}" if started else "all already running"
    notes = (
        f"Measured beside what `make demo` leaves running ({fresh}; idle). The figure: "
        f"`paystream replay online-retail` (541,909 lines, as fast as it goes) started with the "
        f"sink workers (`paystream streams run`: ledger, Redis and graph, a process each) and a "
        f"risk agent (`paystream streams risk`) already running on an isolated world "
        f"(partitions {settings.kafka.partitions}, default settings), timed from the command's "
        f"start to every group caught up and the projections materialized. Publishing took "
        f"{statistics.median(publish):.1f} s (median). Reference: the same log pre-loaded, "
        f"then the three sinks alone, first applied event to caught up "
        f"(`streams.online_retail_materialized_s`'s way), same run."
    )
    figure = Figure(
        "streams.online_retail_demo_materialized_s",
        "s",
        demo,
        command,
        "pre-loaded log, sinks alone (no producer, no agent), same run",
        isolated,
        "<= 60",
        higher_is_better=False,
    )
    console.print(notes)
    if record:
        write(SECTION, [figure], notes)


if __name__ == "__main__":
    typer.run(main)
