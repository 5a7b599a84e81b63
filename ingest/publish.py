"""Publishing at a steady pace, shared by the replay, the simulator and the import.

Each producer's loop (``ingest.online_retail.replay``, ``ingest.simulator.run``,
``ingest.transactions.importer``) sends its events through a :class:`Pacer`, so that
``--rate`` means the same thing in every command.
"""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Keeps a steady rate: sleeps so that ``n`` events never run ahead of ``n / rate``."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()

    async def wait(self, sent: int) -> None:
        """Pause until event number ``sent`` is due."""
        if not self.rate:
            return
        due = self.started + sent / self.rate
        delay = due - time.monotonic()
        if delay > 0.002:
            await asyncio.sleep(delay)
