import os
import sys
from pathlib import Path

from compose.local.process import PidFile, spawn, terminate


def test_a_pid_file_recognises_its_running_process_and_forgets_it_once_stopped(tmp_path):
    script = "import time; time.sleep(30)"
    pid_file = PidFile(tmp_path, "sleeper")
    pid = spawn("sleeper", [sys.executable, "-c", script], tmp_path / "sleeper.log", pid_file)
    try:
        assert pid_file.alive() == pid
    finally:
        terminate(pid, timeout_s=5)
    assert pid_file.alive() is None


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path):
    pid_file = PidFile(tmp_path, "other")
    pid_file.write(os.getpid())
    record = pid_file.read()
    pid_file.path.write_text(
        pid_file.path.read_text().replace(str(record.start_ticks), str(record.start_ticks + 1))
    )
    assert pid_file.alive() is None


def test_terminate_stops_the_whole_process_group(tmp_path):
    pid_file = PidFile(tmp_path, "parent")
    script = "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']); time.sleep(60)"
    pid = spawn("parent", [sys.executable, "-c", script], tmp_path / "p.log", pid_file)
    terminate(pid, timeout_s=5)
    assert live_members_of_group(pid) == []


def live_members_of_group(pgid):
    """Pids still running (not zombies) in process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members
