"""The dashboard on the demo's own data, screenshotted in headless Chromium for the docs.

It serves the API in-process with the settings ``make demo`` uses (so the gold tables and the
MLflow recommender experiment are the demo's: the Online Retail log), creates a throwaway
analyst key, renders ``/dashboard`` over the whole period gold covers and saves the page. The
server binds to loopback on a free port and stops at the end; the key is revoked.

    python -m harness.dashboard_shot docs/img/dashboard.png
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from paystream.settings import REPO_ROOT, Settings, get_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WINDOW = "1280,1560"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _analyst_key(settings: Settings, *, revoke: str | None = None) -> str:
    """Create an analyst key (or revoke key id ``revoke``); returns ``id:secret`` or ''."""
    from api.keys import admin_store
    from paystream.stores.redis import async_client

    async def go() -> str:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            if revoke is not None:
                await store.revoke(revoke)
                return ""
            key_id, secret = await store.create("analyst")
            return f"{key_id}:{secret}"
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    return asyncio.run(go())


def screenshot(target: Path, settings: Settings | None = None) -> Path:
    """Serve the API, render the dashboard in Chromium and save it as ``target`` (PNG)."""
    from api.app import create_app

    settings = settings or get_settings()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start; see its log above")
        time.sleep(0.05)
    key_id, key = _analyst_key(settings).split(":", 1)
    try:
        with tempfile.TemporaryDirectory() as profile:
            shot = Path(profile) / "dashboard.png"
            subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    f"--user-data-dir={profile}/chromium",
                    "--virtual-time-budget=20000",
                    f"--window-size={WINDOW}",
                    f"--screenshot={shot}",
                    f"http://127.0.0.1:{port}/dashboard#key={key}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target)
    finally:
        _analyst_key(settings, revoke=key_id)
        server.should_exit = True
        thread.join(timeout=15)
    return target


def main(argv: list[str]) -> int:
    """``python -m harness.dashboard_shot [TARGET]`` (default ``docs/img/dashboard.png``)."""
    target = Path(argv[0]) if argv else REPO_ROOT / "docs" / "img" / "dashboard.png"
    print(f"dashboard screenshot: {screenshot(target)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
