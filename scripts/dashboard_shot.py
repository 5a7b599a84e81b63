"""The dashboard on the demo's own data, screenshotted in headless Chromium for the docs.

It serves the API in-process with the settings ``make demo`` uses (so the gold tables and the
MLflow recommender experiment are the demo's: the Online Retail log), creates a throwaway
analyst key, renders ``/dashboard`` over the whole period gold covers and saves the page. The
server binds to loopback on a free port and stops at the end; the key is revoked.

    python -m scripts.dashboard_shot docs/img/dashboard.png
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compose.local.process import free_port
from harness.api_server import ServerThread
from paystream.settings import REPO_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from api.auth import KeyStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WINDOW = "1280,1560"


@contextmanager
def _analyst_key(settings: Settings) -> Iterator[str]:
    """A fresh analyst key, revoked when the block ends."""
    from api.keys import admin_store
    from paystream.stores.redis import async_client

    async def with_store(action: Callable[[KeyStore], Awaitable[Any]]) -> Any:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            return await action(store)
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    key_id, key = asyncio.run(with_store(lambda store: store.create("analyst")))
    try:
        yield key
    finally:
        asyncio.run(with_store(lambda store: store.revoke(key_id)))


def screenshot(target: Path, settings: Settings | None = None) -> Path:
    """Serve the API, render the dashboard in Chromium and save it as ``target`` (PNG)."""
    from api.app import create_app

    settings = settings or get_settings()
    server = ServerThread(create_app(settings), free_port()).start()
    try:
        with _analyst_key(settings) as key, tempfile.TemporaryDirectory() as profile:
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
                    f"{server.url}/dashboard#key={key}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target)
    finally:
        server.stop()
    return target


def main(argv: list[str]) -> int:
    """``python -m scripts.dashboard_shot [TARGET]`` (default ``docs/img/dashboard.png``)."""
    target = Path(argv[0]) if argv else REPO_ROOT / "docs" / "img" / "dashboard.png"
    print(f"dashboard screenshot: {screenshot(target)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
