"""The local stack's keeper restarts a crashed command, backs off, and stops on request."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from compose.local.keeper import FIRST_DELAY_S, MAX_DELAY_S, STABLE_S, Restarts, next_delay


def test_back_off_doubles_while_crashes_come_quickly_and_resets_after_a_stable_run() -> None:
    assert next_delay(0.0, 0.1) == FIRST_DELAY_S
    assert next_delay(1.0, 0.1) == 2.0
    assert next_delay(16.0, 0.1) == MAX_DELAY_S
    assert next_delay(MAX_DELAY_S, 0.1) == MAX_DELAY_S
    assert next_delay(MAX_DELAY_S, STABLE_S) == FIRST_DELAY_S


def test_restarts_record_round_trips_and_reads_empty_when_missing(tmp_path: Path) -> None:
    assert Restarts.read(tmp_path, "streams") == Restarts()
    Restarts(2, 137, 1.5).write(tmp_path, "streams")
    assert Restarts.read(tmp_path, "streams") == Restarts(2, 137, 1.5)


def _keeper(tmp_path: Path, code: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "compose.local.keeper", "--name", "probe"]
    argv += ["--run-dir", str(tmp_path), "--", sys.executable, "-c", code]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_crashing_command_is_restarted_and_each_crash_is_logged(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, "import sys; sys.exit(3)")
    try:
        deadline = time.monotonic() + 20
        while Restarts.read(tmp_path, "probe").count < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        record = Restarts.read(tmp_path, "probe")
        assert record.count >= 2
        assert record.last_exit == 3
    finally:
        keeper.send_signal(signal.SIGTERM)
        output, _ = keeper.communicate(timeout=20)
    assert keeper.returncode == 0
    assert "probe exited with code 3 without being asked to; restart 1" in output


def test_stopping_the_keeper_stops_its_command_and_does_not_count_a_restart(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "child.pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    keeper = _keeper(tmp_path, code)
    deadline = time.monotonic() + 20
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the kept command never started"
        time.sleep(0.05)
    child = int(marker.read_text())
    keeper.send_signal(signal.SIGTERM)
    keeper.communicate(timeout=20)
    assert keeper.returncode == 0
    assert _gone(child)
    assert Restarts.read(tmp_path, "probe").count == 0


def _gone(pid: int) -> bool:
    # Exited: no /proc entry, or a zombie its parent (the keeper, now gone too) left behind.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] == "Z"
    except OSError:
        return True
