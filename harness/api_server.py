"""The API served by uvicorn in a background thread, on loopback (tests, screenshots).

Signals stay with the calling process (pytest, a harness), and :meth:`ServerThread.stop`
ends the server cleanly.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """uvicorn serving ``app`` on ``127.0.0.1:port`` in a daemon thread."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> ServerThread:
        """Start serving; return once the server accepts connections (at most 30 s)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread (at most 15 s)."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
