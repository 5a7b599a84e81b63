"""One writer at a time: the lakehouse service and a one-off build must not interleave.

Both commit to the same Delta tables and streaming checkpoints. Delta's optimistic
concurrency would fail one of two concurrent MERGEs, and two streaming queries on one
checkpoint corrupt it, so each writer holds an advisory lock on ``<root>/.writer.lock``
(local roots; on object stores a deployment runs one service, as the Databricks job does).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paystream.errors import ConfigurationError

LOCK_FILE = ".writer.lock"


@contextmanager
def writer_lock(root: Path | str, what: str) -> Iterator[None]:
    """Hold the lakehouse's writer lock for ``what`` (``"build"``, ``"service"``).

    Raises:
        ConfigurationError: another process holds it, naming that process.
    """
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        yield
        return
    folder = Path(text.removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigurationError(
                f"the lakehouse at {folder} is being written by {holder}; the lakehouse "
                "service keeps gold fresh by itself (stop it with `paystream stack down "
                "lakehouse` before a one-off build)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{what} (pid {os.getpid()})")
        handle.flush()
        yield
    finally:
        handle.close()
