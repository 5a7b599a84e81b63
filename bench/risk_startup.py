"""Benchmark: the risk agent's process, what it loads and how soon it decides.

* ``risk.agent_modules``: modules loaded by the agent's entry point once its app is built.
* ``risk.agent_start_s``: ``paystream streams risk`` started to partitions assigned (the
  agent can decide), in an isolated world on the local stack, cold process each time.

The reference is the same measurement of another checkout (``--before PATH``, e.g. a
``git worktree`` of an earlier revision), alternated run by run on the same stack.

    python -m bench.risk_startup --runs 5 --before /tmp/oldtree
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.lib.record import Figure, write
from harness.worlds import create_world
from paystream.settings import REPO_ROOT, get_settings

console = Console()
SECTION = "Risk agent process: modules and start-up"
READY = "risk agent assigned"
# The agent's entry module and app builder, before and after the risk role was split out.
ENTRIES = {
    "risk.agent": "import risk.agent as a; a.create_risk_app",
    "streams.risk.agent": "import streams.risk.agent as a; a.create_risk_app",
}


def _entry(tree: Path) -> str:
    return "risk.agent" if (tree / "risk" / "agent.py").exists() else "streams.risk.agent"


def modules(tree: Path) -> int:
    """Modules in ``sys.modules`` after importing the agent's entry in a fresh process."""
    code = f"import sys; {ENTRIES[_entry(tree)]}; print(len(sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def start_s(tree: Path, env: dict[str, str], timeout_s: float = 120) -> float:
    """Seconds from starting the agent process to its first partition assignment."""
    argv = [sys.executable, "-m", "cli.main", "streams", "risk", "--log-level", "info"]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        env={**env, "PYTHONPATH": str(tree)},
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if READY in line:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                break
        raise RuntimeError(f"the agent in {tree} did not get partitions in {timeout_s:.0f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(
    before: Annotated[Path, typer.Option(help="A checkout of the revision to compare.")],
    runs: Annotated[int, typer.Option(help="Cold starts of each checkout.")] = 5,
    record: Annotated[bool, typer.Option(help="Write docs and bench/results.")] = True,
) -> None:
    """Measure the agent's modules and start-up beside another checkout's."""
    settings = get_settings()
    world = create_world(settings, REPO_ROOT / ".stack" / "bench" / "risk-startup")
    try:
        now_s: list[float] = []
        then_s: list[float] = []
        for run in range(runs):
            # Alternate, and each in its own consumer group so every start is a first join.
            for tree, into in ((REPO_ROOT, now_s), (before, then_s)):
                env = {**world.env, "PAYSTREAM_RISK__APP_ID": f"risk-start-{run}-{len(into)}"}
                env["PAYSTREAM_RISK__APP_ID"] += "-now" if tree == REPO_ROOT else "-before"
                into.append(start_s(tree, env))
            console.log(f"run {run + 1}: now {now_s[-1]:.2f} s, before {then_s[-1]:.2f} s")
        now_m = [float(modules(REPO_ROOT)) for _ in range(3)]
        then_m = [float(modules(before)) for _ in range(3)]
    finally:
        world.destroy()
    console.log(
        f"modules now {statistics.median(now_m):.0f}, before {statistics.median(then_m):.0f}; "
        f"start now {statistics.median(now_s):.2f} s, before {statistics.median(then_s):.2f} s"
    )
    if not record:
        return
    command = f"python -m bench.risk_startup --runs {runs} --before PATH"
    name = f"the same, checkout {before.name} ({_entry(before)})"
    write(
        SECTION,
        [
            Figure("risk.agent_modules", "modules", now_m, command, name, then_m),
            Figure("risk.agent_start_s", "s", now_s, command, name, then_s),
        ],
        "The agent's entry module with its app built (`risk.agent` now); start-up is the "
        "process started to its first partition assignment, cold, alternating the checkouts.",
    )


if __name__ == "__main__":
    typer.run(main)
