"""Running several sink workers from one command: one child process per sink.

``paystream streams run`` on a single machine starts the ledger and both projections. Each is
its own Faust app in its own consumer group, and Faust runs one app per worker process, so
the command starts one child per sink and watches them. A child that exits stops the others
and the command exits with the child's code, so a supervisor (the demo, Kubernetes, a test)
sees the failure; SIGTERM or Ctrl-C is passed on to every child. Children share the
command's process group, so killing the group (``kill -9 -PGID``) kills them all at once.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger(__name__)


def child_argv(sink: str, metrics_port: int, metrics_addr: str, log_level: str) -> list[str]:
    """The command line of one sink's worker."""
    # The interpreter running this command, so a child runs the same code in the same venv.
    argv = [sys.executable, "-m", "cli.main", "streams", "run", "--sinks", sink]
    argv += ["--log-level", log_level]
    if metrics_port:
        argv += ["--metrics-port", str(metrics_port), "--metrics-addr", metrics_addr]
    return argv


def supervise(sinks: Sequence[str], metrics_port: int, metrics_addr: str, log_level: str) -> int:
    """Start one worker per sink and wait; returns the exit code of the first to stop.

    With ``metrics_port`` N, sink i serves /metrics on N + i.
    """
    children: dict[str, subprocess.Popen[bytes]] = {}
    for i, sink in enumerate(sinks):
        port = metrics_port + i if metrics_port else 0
        children[sink] = subprocess.Popen(child_argv(sink, port, metrics_addr, log_level))
        where = f", /metrics on {metrics_addr}:{port}" if port else ""
        log.info("started the %s worker (pid %d%s)", sink, children[sink].pid, where)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        while True:
            done = {s: p.returncode for s, p in children.items() if p.poll() is not None}
            if done:
                sink, code = next(iter(done.items()))
                if not stopping:
                    log.error("the %s worker exited with code %s; stopping the others", sink, code)
                stop(signal.SIGTERM, None)
                break
            time.sleep(0.2)
    finally:
        for proc in children.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return code
