"""Keeping a long-running command alive: the local stack's restart policy.

The stack runs the stream workers and the risk agent as services (``paystream stack up --with
pipeline``). Kubernetes restarts a crashed pod by itself; on one machine this module does it:

    python -m compose.local.keeper --name streams -- paystream streams run

It starts the command in its own process group and waits. When the command exits without
being asked to, the keeper logs the exit, waits (1 s, doubling to 30 s while crashes come
quickly) and starts it again; the count and the last exit are kept in ``<run>/<name>.restarts``
for ``paystream stack status``. SIGTERM or SIGINT is passed to the command's whole group and
the keeper exits once it is gone, so ``paystream stack down`` stops both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

log = logging.getLogger("paystream.keeper")
#: Back-off bounds between restarts, in seconds.
FIRST_DELAY_S, MAX_DELAY_S = 1.0, 30.0
#: A run this long resets the back-off: the command was healthy, the crash is news.
STABLE_S = 60.0


@dataclass
class Restarts:
    """What ``stack status`` shows about a kept service."""

    count: int = 0
    last_exit: int | None = None
    last_restart_at: float | None = None

    @staticmethod
    def path(run_dir: Path, name: str) -> Path:
        """Where the keeper of ``name`` records its restarts."""
        return run_dir / f"{name}.restarts"

    @classmethod
    def read(cls, run_dir: Path, name: str) -> Restarts:
        """The record, or an empty one when there is none (never restarted, or unreadable)."""
        try:
            return cls(**json.loads(cls.path(run_dir, name).read_text()))
        except (OSError, ValueError, TypeError):
            return cls()

    def write(self, run_dir: Path, name: str) -> None:
        """Replace the record atomically (status may read it at any time)."""
        target = self.path(run_dir, name)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)))
        temporary.replace(target)


def next_delay(previous: float, ran_s: float) -> float:
    """The wait before the next start: back to the first delay after a stable run, else
    doubled up to :data:`MAX_DELAY_S`."""
    if ran_s >= STABLE_S or previous <= 0:
        return FIRST_DELAY_S
    return min(previous * 2, MAX_DELAY_S)


def keep(name: str, argv: list[str], run_dir: Path) -> int:
    """Run ``argv`` until asked to stop, restarting it whenever it exits on its own."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    record = Restarts()
    record.write(run_dir, name)
    delay = 0.0
    while True:
        started = time.monotonic()
        # Its own group, so a stop reaches the command's children too (the sink workers).
        child = subprocess.Popen(argv, start_new_session=True)
        log.info("started %s (pid %d): %s", name, child.pid, " ".join(argv))
        code = child.wait()
        if stopping:
            log.info("%s stopped (exit %d)", name, code)
            return 0
        delay = next_delay(delay, time.monotonic() - started)
        record.count += 1
        record.last_exit = code
        record.last_restart_at = time.time()
        record.write(run_dir, name)
        log.error(
            "%s exited with code %d without being asked to; restart %d in %.0f s",
            name,
            code,
            record.count,
            delay,
        )
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        if stopping:
            return 0


def main(args: list[str] | None = None) -> int:
    """``python -m compose.local.keeper --name NAME --run-dir DIR -- COMMAND...``"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="The service's name, for logs and status.")
    parser.add_argument("--run-dir", type=Path, required=True, help="Where restarts are kept.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="The command to keep alive.")
    options = parser.parse_args(args)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command to keep after --")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return keep(options.name, command, options.run_dir)


if __name__ == "__main__":
    sys.exit(main())
