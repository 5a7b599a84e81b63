"""The demo's first lakehouse build as users meet it: a cold command, the pipeline beside it.

``lakehouse.demo_build_s``: wall seconds of ``paystream lakehouse build --no-graph`` (what the
demo's step 7 runs, JVM start included) over the full Online Retail replay, into a fresh
root, with the services ``make demo`` leaves running (stream workers, risk agent, API,
lakehouse service) idle beside it. The replay is loaded once into an isolated world (its own
topics and ledger) by real stream workers. Reference, same run: delta-rs writing the same
gold rows into fresh tables (the no-JVM floor). The profile (each step's seconds, from the
command's own report) goes to the notes.

    .venv/bin/python -m bench.lakehouse_cold --runs 3
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.lakehouse import _deltars_write, _load
from bench.lib.platform_setup import bring_up
from bench.lib.record import Figure, write
from compose.local.stack import LocalStack
from harness.worlds import StreamWorld, create_world
from paystream.settings import REPO_ROOT, get_settings

console = Console()
LOGS = REPO_ROOT / ".stack" / "bench" / "lakehouse-cold"
# The command's step lines; Rich may wrap a long one, so a line break can fall anywhere.
STEP = re.compile(r"✓ (\w+): (.+?) — .*?\((\d+(?:\.\d+)?) s\)", re.S)


def _cold_build(world: StreamWorld, root: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of the demo's build command into ``root``, and each step's seconds."""
    paystream = Path(sys.executable).parent / "paystream"
    argv = [str(paystream), "lakehouse", "build", "--no-graph"]
    env = {**world.env, "PAYSTREAM_LAKEHOUSE__ROOT": str(root), "COLUMNS": "200"}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the build failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    steps = {f"{m[1]}: {' '.join(m[2].split())}": float(m[3]) for m in STEP.finditer(done.stdout)}
    return seconds, steps


def main(
    runs: Annotated[int, typer.Option("--runs", min=1)] = 3,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Replay only the first N lines (a quick proof).")
    ] = None,
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md.")] = True,
) -> None:
    """Measure the demo's cold lakehouse build and write it to docs/benchmarks.md."""
    settings = get_settings()
    bring_up(settings, lambda line: console.log(line))
    LocalStack(settings).up(lambda line: console.log(line), ["lakehouse"])
    shutil.rmtree(LOGS, ignore_errors=True)
    world = create_world(settings, LOGS / "world", partitions=6)
    builds, deltars = [], []
    steps: dict[str, list[float]] = defaultdict(list)
    try:
        _load(world, limit, workers=2)
        for proc in list(world.workers):  # idle, as the demo's workers are when it builds
            world.kill(proc, sig=15)
        for i in range(runs):
            root = LOGS / f"run{i}"
            seconds, taken = _cold_build(world, root)
            builds.append(seconds)
            for name, value in taken.items():
                steps[name].append(value)
            deltars.append(_deltars_write(root, LOGS / f"deltars{i}"))
            console.print(
                f"build {i + 1}: {seconds:.1f} s ("
                + ", ".join(f"{k} {v:.1f}" for k, v in taken.items())
                + f"); delta-rs writes its gold in {deltars[-1]:.1f} s"
            )
    finally:
        world.destroy()
    if not record:
        return
    command = f"python -m bench.lakehouse_cold --runs {runs}" + (
        f" --limit {limit}" if limit else ""
    )
    in_steps = sum(statistics.median(v) for v in steps.values())
    profile = "; ".join(f"{k} {statistics.median(v):.1f} s" for k, v in steps.items())
    notes = (
        "The demo's step 7 as a user runs it: `paystream lakehouse build --no-graph`, a cold "
        "JVM, into a fresh root, over the full Online Retail replay loaded by stream workers "
        "into an isolated world; the stack, the pipeline services, the API and the lakehouse "
        "service run idle beside it. Profile, median seconds: "
        f"{profile}; JVM start, session and CLI outside the steps: "
        f"{statistics.median(builds) - in_steps:.1f} s."
    )
    write(
        "Demo lakehouse build (bench.lakehouse_cold)",
        [
            Figure(
                "lakehouse.demo_build_s", "s", builds, command,
                reference_name="delta-rs writing the same gold rows",
                reference_runs=deltars, target="≤ 90", higher_is_better=False,
            )
        ],
        notes,
    )  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
