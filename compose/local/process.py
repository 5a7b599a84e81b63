"""Starting, finding and stopping the stack's local processes.

Each process the stack starts gets a pid file under ``.stack/run``. The file also records the
process's start time (from ``/proc``), so ``down`` never signals a pid that was reused by
someone else. The command line is not used for that: Redis rewrites its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paystream.errors import PaystreamError


class StackError(PaystreamError):
    """A stack command cannot go on; the message says what and how to fix it."""


@dataclass(frozen=True)
class PidRecord:
    """What ``up`` wrote about a process it started."""

    pid: int
    start_ticks: int
    started_at: float


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """Best-effort description of the process listening on ``port``, for error messages."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "an unknown process"
    return out.split("users:")[-1].strip() if "users:" in out else "an unknown process"


def _start_ticks(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot (-1 if there is no such process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return -1
    # Field 22 of /proc/<pid>/stat; fields[0] here is field 3.
    return int(fields[19])


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


class PidFile:
    """The pid file of one stack service."""

    def __init__(self, run_dir: Path, name: str) -> None:
        self.path = run_dir / f"{name}.pid"

    def read(self) -> PidRecord | None:
        """The recorded process, or None if there is no readable record."""
        try:
            data = json.loads(self.path.read_text())
            return PidRecord(int(data["pid"]), int(data["start_ticks"]), float(data["started_at"]))
        except (OSError, ValueError, KeyError):
            return None

    def write(self, pid: int) -> None:
        """Record ``pid`` with its current command line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "start_ticks": _start_ticks(pid), "started_at": time.time()}
        self.path.write_text(json.dumps(record))

    def alive(self) -> int | None:
        """Pid of the recorded process if it is still the one we started, else None."""
        record = self.read()
        if record is None:
            return None
        if _start_ticks(record.pid) != record.start_ticks or _is_zombie(record.pid):
            return None
        return record.pid

    def clear(self) -> None:
        """Forget the record."""
        self.path.unlink(missing_ok=True)


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    pid_file: PidFile,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached from this process, logging to ``log_path``; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise StackError(f"cannot start {name}: {argv[0]} not found ({exc})") from exc
    # /proc/<pid>/cmdline is empty for a moment after fork; wait until exec has happened.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not _cmdline(proc.pid):
        time.sleep(0.02)
    pid_file.write(proc.pid)
    return proc.pid


def terminate(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM ``pid`` and its process group; SIGKILL if it outlives ``timeout_s``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _cmdline(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] == "Z"
    except (OSError, IndexError):
        return True


def tail(path: Path, lines: int) -> str:
    """Last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
