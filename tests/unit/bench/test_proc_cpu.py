"""CPU time from /proc: parsing, process trees, and deltas that survive reaped children."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lib.proc_cpu import (
    CLK_TCK,
    ProcStat,
    Snapshot,
    cpu_seconds,
    descendants,
    label,
    parse_machine_busy,
    parse_stat,
    read_table,
    service_totals,
    snapshot,
)


def _stat(
    pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0
) -> str:
    # Fields 3.. of proc(5): state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt,
    # majflt, cmajflt, utime, stime, cutime, cstime, priority, nice, ...
    rest = [
        "S",
        ppid,
        ppid,
        ppid,
        0,
        -1,
        4194304,
        10,
        0,
        0,
        0,
        utime,
        stime,
        cutime,
        cstime,
        20,
        0,
        5,
        0,
        1326884,
    ]
    return f"{pid} ({comm}) " + " ".join(str(v) for v in rest) + "\n"


def test_parse_stat_reads_ppid_and_all_four_times() -> None:
    stat = parse_stat(_stat(42, "python", 7, 265, 45, 3, 2))
    assert stat == ProcStat(42, 7, 265 + 45 + 3 + 2)


def test_parse_stat_survives_spaces_and_parentheses_in_the_name() -> None:
    stat = parse_stat(_stat(9, "my (odd) name) x", 1, 10, 5))
    assert stat == ProcStat(9, 1, 15)


def test_a_real_stat_line_parses() -> None:
    line = (
        "24771 (python) S 24769 24769 24769 0 -1 4194304 31078 162 0 0 265 45 0 0 20 0 5 0 "
        "1326884 447135744 32091 18446744073709551615 94006663663616"
    )
    assert parse_stat(line) == ProcStat(24771, 24769, 310)


def test_own_process_parses_from_the_real_proc() -> None:
    import os

    stat = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert stat.pid == os.getpid() and stat.ppid == os.getppid() and stat.ticks >= 0


def test_descendants_walk_the_whole_tree_root_first() -> None:
    table = {
        1: ProcStat(1, 0, 0),
        10: ProcStat(10, 1, 0),  # keeper
        11: ProcStat(11, 10, 0),  # streams run
        12: ProcStat(12, 11, 0),  # sink
        13: ProcStat(13, 11, 0),  # sink
        20: ProcStat(20, 1, 0),  # another service
    }
    assert descendants(10, table) == [10, 11, 12, 13]
    assert descendants(99, table) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/v/bin/python", "-m", "compose.local.keeper", "--name", "streams"], "keeper"),
        (["/v/bin/python", "-m", "cli.main", "streams", "run", "--sinks", "ledger"], "sink ledger"),
        (["/v/bin/python", "/v/bin/paystream", "streams", "risk"], "paystream"),
        (["/usr/bin/java", "-cp", "x", "kafka.Kafka"], "java"),
        (["redis-server 127.0.0.1:6379"], "redis-server"),
        (["/usr/sbin/mariadbd", "--port=3306"], "mariadbd"),
        ([], "?"),
    ],
)
def test_labels_name_each_process_of_a_tree(argv: list[str], expected: str) -> None:
    assert label(argv) == expected


def test_machine_busy_leaves_out_idle_and_iowait() -> None:
    text = "cpu  100 5 50 9000 30 2 3 1 40 0\ncpu0 50 2 25 4500 15 1 1 0 20 0\n"
    assert parse_machine_busy(text) == 100 + 5 + 50 + 2 + 3 + 1


def _fake_proc(root: Path, procs: dict[int, tuple[str, int, int, int, list[str]]]) -> None:
    root.mkdir(exist_ok=True)
    (root / "stat").write_text("cpu  10 0 10 100 0 0 0 0 0 0\n")
    for pid, (comm, ppid, utime, cutime, argv) in procs.items():
        d = root / str(pid)
        d.mkdir(exist_ok=True)
        (d / "stat").write_text(_stat(pid, comm, ppid, utime, 0, cutime))
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    for d in root.iterdir():
        if d.is_dir() and int(d.name) not in procs:
            for f in d.iterdir():
                f.unlink()
            d.rmdir()


def test_a_child_reaped_in_the_window_is_counted_once(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    keeper = ["python", "-m", "compose.local.keeper"]
    sink = ["python", "-m", "cli.main", "--sinks", "graph"]
    _fake_proc(proc, {10: ("python", 1, 5, 0, keeper), 11: ("python", 10, 100, 0, sink)})
    before = snapshot({"streams": 10}, proc)
    # The sink ran 50 more ticks, exited and was reaped: its 150 ticks move to the keeper.
    _fake_proc(proc, {10: ("python", 1, 7, 150, keeper)})
    after = snapshot({"streams": 10}, proc)
    spent = cpu_seconds(before, after)
    assert service_totals(spent)["streams"] == pytest.approx((2 + 50) / CLK_TCK)
    assert read_table(proc)[10].ticks == 157


def test_cpu_seconds_per_label_and_new_services(tmp_path: Path) -> None:
    before = Snapshot({"api": {5: ("paystream", 100)}})
    after = Snapshot({"api": {5: ("paystream", 130)}, "redis": {6: ("redis-server", 10)}})
    spent = cpu_seconds(before, after)
    assert spent["api"]["paystream"] == pytest.approx(30 / CLK_TCK)
    assert spent["redis"]["redis-server"] == pytest.approx(10 / CLK_TCK)
