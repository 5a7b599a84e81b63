"""Which TCP ports a process tree listens on, and on which address (from ``ss``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

#: Addresses that only this machine reaches.
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def process_tree(root: int) -> set[int]:
    """``root`` and every descendant still running."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while listing
        # The command name is in parentheses and may hold spaces: split after it.
        fields = text.rsplit(")", 1)[1].split()
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree


def listening_sockets(root: int) -> list[tuple[str, int]]:
    """``(address, port)`` of every listening TCP socket of ``root``'s process tree."""
    pids = process_tree(root)
    out = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if not owners & pids:
            continue
        local = line.split()[3]  # State Recv-Q Send-Q Local:Port Peer:Port Process
        address, port = local.rsplit(":", 1)
        found.append((address.strip("[]").split("%")[0], int(port)))
    return found
