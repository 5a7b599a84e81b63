"""CPU time of the platform's processes, read from ``/proc``.

Each service is a process tree: the stream workers' keeper, the ``paystream streams run``
supervisor and its one child per sink; the risk agent's keeper and agent; the API; the JVMs;
the two MariaDB servers; Redis. A snapshot records, for every process of every tree,
``utime + stime + cutime + cstime`` (all threads; the children's part once they are reaped).
The CPU spent between two snapshots is the sum over the later snapshot minus the sum over
the earlier one, so a child that exits and is reaped inside the window moves its time into
its parent's ``cutime`` and is still counted once.
"""

from __future__ import annotations

import os
import resource
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this module needs."""

    pid: int
    ppid: int
    ticks: int  # utime + stime + cutime + cstime, in clock ticks


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line.

    The command name (field 2) may hold spaces and parentheses, so the line is split at the
    last ``)``; the fields after it start at field 3 (state).
    """
    head, rest = text.rsplit(")", 1)
    pid = int(head.split("(", 1)[0])
    fields = rest.split()
    # Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime), numbered from 1 in proc(5).
    ppid = int(fields[1])
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ProcStat(pid, ppid, ticks)


def read_table(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process's stat; processes that exit while being read are skipped."""
    table: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            table[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return table


def descendants(root: int, table: dict[int, ProcStat]) -> list[int]:
    """``root`` and every process below it, root first (empty if root is gone)."""
    if root not in table:
        return []
    children: dict[int, list[int]] = defaultdict(list)
    for stat in table.values():
        children[stat.ppid].append(stat.pid)
    tree, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        tree.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return tree


def label(argv: list[str]) -> str:
    """A short name for one process of a tree, from its command line."""
    if not argv:
        return "?"
    if "compose.local.keeper" in argv:
        return "keeper"
    if "--sinks" in argv:
        index = argv.index("--sinks")
        if index + 1 < len(argv):
            return f"sink {argv[index + 1]}"
    # Redis rewrites its command line into one string ("redis-server 127.0.0.1:6379").
    program = Path(argv[0].split()[0]).name
    if program.startswith("python") and len(argv) > 1:
        # `python -m module` or `python script`: the module or script says what it is.
        target = argv[2] if argv[1] == "-m" and len(argv) > 2 else Path(argv[1]).name
        return target
    return program


def _argv(pid: int, proc: Path) -> list[str]:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass
class Snapshot:
    """Every tree's per-process ticks at one moment."""

    # service -> pid -> (label, ticks)
    trees: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)
    own_s: float = 0.0  # this process (the load generator and its pollers), all threads
    machine_s: float = 0.0  # busy CPU of the whole machine, every core


def parse_machine_busy(text: str) -> int:
    """Busy ticks of all cores from ``/proc/stat``: everything but idle and iowait.

    ``guest`` time is already inside ``user``, so it is not added again.
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            return user + nice + system + irq + softirq + steal
    raise ValueError("no aggregate cpu line in /proc/stat")


def own_cpu_s() -> float:
    """CPU seconds of this process, every thread, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def snapshot(roots: dict[str, int], proc: Path = PROC) -> Snapshot:
    """Ticks of every process under each root (service name -> root pid)."""
    table = read_table(proc)
    machine = parse_machine_busy((proc / "stat").read_text()) / CLK_TCK
    shot = Snapshot(own_s=own_cpu_s(), machine_s=machine)
    for service, root in roots.items():
        tree = descendants(root, table)
        shot.trees[service] = {pid: (label(_argv(pid, proc)), table[pid].ticks) for pid in tree}
    return shot


def cpu_seconds(before: Snapshot, after: Snapshot) -> dict[str, dict[str, float]]:
    """Per service and process label: CPU seconds spent between the two snapshots.

    Per label, the ticks of the later snapshot minus those of the earlier one; a reaped
    child's time reappears under its parent's label, so the service total stays exact.
    """
    result: dict[str, dict[str, float]] = {}
    for service in sorted(set(before.trees) | set(after.trees)):
        totals: dict[str, int] = defaultdict(int)
        for name, ticks in after.trees.get(service, {}).values():
            totals[name] += ticks
        for name, ticks in before.trees.get(service, {}).values():
            totals[name] -= ticks
        result[service] = {name: ticks / CLK_TCK for name, ticks in sorted(totals.items())}
    return result


def service_totals(spent: dict[str, dict[str, float]]) -> dict[str, float]:
    """CPU seconds per service (its whole tree)."""
    return {service: sum(labels.values()) for service, labels in spent.items()}
