"""The API as a background local process, as the demo leaves it serving.

Its pid is in ``.stack/run/api.pid`` and its log in ``.stack/logs/api.log``; ``paystream stack
down`` stops it through the same pid file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from paystream.errors import ServiceUnavailableError
from paystream.settings import Settings


def api_pid_file(settings: Settings) -> Path:
    """Where the background API records its pid."""
    return settings.stack.home / "run" / "api.pid"


def _alive(cmdline: Path) -> bool:
    # A zombie (exited, not yet reaped by its parent) keeps /proc/<pid> with an empty cmdline.
    try:
        return bool(cmdline.read_bytes())
    except OSError:
        return False


def stop_api(settings: Settings) -> None:
    """Stop an API the demo started earlier, if it is still running."""
    pid_file = api_pid_file(settings)
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip() or 0)
    cmdline = Path(f"/proc/{pid}/cmdline")
    if pid and cmdline.exists() and b"api" in cmdline.read_bytes():
        os.kill(pid, signal.SIGTERM)
        # Wait for the port to be free: a new server may be started right after.
        deadline = time.monotonic() + 30
        while _alive(cmdline) and time.monotonic() < deadline:
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def start_api(settings: Settings) -> int:
    """Start ``paystream api serve`` in the background and wait until it answers."""
    stop_api(settings)
    log = settings.stack.home / "logs" / "api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    binary = str(Path(sys.executable).parent / "paystream")
    proc = subprocess.Popen(
        [binary, "api", "serve", "--log-level", "warning"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
    api_pid_file(settings).write_text(str(proc.pid))
    url = f"http://{settings.api.host}:{settings.api.port}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailableError("API", url, f"exited; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc.pid
        except OSError:
            time.sleep(0.5)
    raise ServiceUnavailableError("API", url, f"no answer in 60 s; see {log}")


def example_payment(settings: Settings) -> tuple[str, str, str]:
    """(merchant, customer, payment) of the newest captured payment: the demo's examples."""
    from paystream.stores.mysql import Database

    database = Database(settings.mysql)
    try:
        with database.read_session() as session:
            row = session.execute(
                text(
                    "SELECT merchant_id, customer_id, payment_id FROM payments "
                    "WHERE captured_at IS NOT NULL ORDER BY authorized_at DESC LIMIT 1"
                )
            ).one()
    finally:
        database.dispose()
    return str(row[0]), str(row[1]), str(row[2])
