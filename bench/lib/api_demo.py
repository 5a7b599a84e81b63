"""The API as users run it: the server ``make demo`` leaves serving, on the demo's own data.

``paystream demo`` ends by starting ``paystream api serve --log-level warning`` in the
background (:mod:`compose.local.api_process`) against the default settings, the demo's gold
tables and Redis lists, and prints example calls for the newest captured payment. The
benchmark drives exactly that: it runs the demo when nothing is serving, restarts the server
with the same function the demo uses (so ``--workers`` can be compared), and calls the
printed customer, payment and merchant with a key of its own whose rate limit never binds,
plus a key with the default limit for the 429 check.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.keys import admin_store
from compose.local.api_process import example_payment, start_api, stop_api
from paystream.settings import Settings, get_settings
from paystream.stores.redis import async_client

PAYSTREAM = str(Path(sys.executable).parent / "paystream")


@dataclass(frozen=True)
class DemoTargets:
    """The demo's server and what the benchmark calls on it."""

    base: str
    key: str  # rate limit far above what the load can reach
    limited_key: str  # the default limit, as the demo's printed key
    urls: dict[str, str]


def _serving(settings: Settings) -> bool:
    url = f"http://{settings.api.host}:{settings.api.port}/healthz"
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _keys(settings: Settings, merchant: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            unbound = (await store.create("merchant", merchant, None, 1e9, 1_000_000_000))[1]
            limited = (await store.create("merchant", merchant))[1]
            return unbound, limited
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    return asyncio.run(go())


def demo_targets(workers: int, run_demo: bool) -> DemoTargets:
    """Make sure the demo's API serves with ``workers`` processes; return what to call."""
    settings = get_settings()
    if run_demo or not _serving(settings):
        # The same command as `make demo`; it leaves the API serving.
        subprocess.run([PAYSTREAM, "demo"], check=True, timeout=3600)
        settings = get_settings()
    # Restarted the way the demo starts it; the worker count travels in the environment.
    os.environ["PAYSTREAM_API__WORKERS"] = str(workers)
    stop_api(settings)
    start_api(get_settings())
    merchant, customer, payment = example_payment(settings)
    key, limited = _keys(settings, merchant)
    base = f"http://{settings.api.host}:{settings.api.port}"
    urls = {
        "trivial": f"{base}/healthz",
        "recommendations": f"{base}/v1/customers/{customer}/recommendations?limit=10",
        "risk_decision": f"{base}/v1/payments/{payment}/risk",
        "statements": (
            f"{base}/v1/merchants/{merchant}/statements?from=2011-01-01&to=2011-01-31"
            "&granularity=day"
        ),
    }
    return DemoTargets(base, key, limited, urls)
