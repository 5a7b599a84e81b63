import os
import subprocess
import sys

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
    out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout
    assert out.strip() == ""
