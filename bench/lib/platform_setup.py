"""The configuration the platform benchmark measures, and what it posts on it.

``make demo`` leaves the local stack, the pipeline (``streams``: the three sink workers;
``risk``: one risk agent, each under its keeper), the lakehouse service (``paystream
lakehouse run``), the SQL endpoint and ``paystream api serve`` running at default settings
on the default namespace and topics. :func:`bring_up` starts whichever of
them is not running, with the same idempotent calls (``LocalStack.up`` and
``compose.local.api_process.start_api``), and leaves them running as the demo does; it never
restarts a service that runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.lib.platform_load import PaymentTemplate
from compose.local.api_process import api_pid_file, example_payment, start_api
from compose.local.keeper import Restarts
from compose.local.pipeline_service import PIPELINE
from compose.local.stack import LocalStack
from paystream.contracts.events import PaymentAuthorized
from paystream.settings import Settings

#: The stack services whose CPU is measured beside the API (MLflow: the agents poll it).
MEASURED = (
    "streams",
    "risk",
    "lakehouse",
    "sql",
    "kafka",
    "mysql-primary",
    "mysql-replica",
    "redis",
    "gremlin",
)
#: What the demo leaves running beyond the core stack.
DEMO_SERVICES = [*PIPELINE, "lakehouse", "sql"]
OTHER = ("mlflow",)
#: The bench's simulated world: its own seed, so its ids never meet the demo's.
SEED = 4242


def api_base(settings: Settings) -> str:
    """Where ``paystream api serve`` listens."""
    return f"http://{settings.api.host}:{settings.api.port}"


def serving(settings: Settings) -> bool:
    """True if the API answers ``/healthz``."""
    try:
        return httpx.get(f"{api_base(settings)}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def bring_up(settings: Settings, report: Callable[[str], None]) -> list[str]:
    """Start the stack, the pipeline and the API where they are not running; return what
    was started (a second call starts nothing)."""
    stack = LocalStack(settings)
    started = stack.up(report)
    started += stack.up(report, DEMO_SERVICES)
    if not serving(settings):
        # start_api stops a stale pid-file process first; nothing answers, so none serves.
        pid = start_api(settings)
        report(f"started the API (pid {pid})")
        started.append("api")
    return started


def _api_pid(settings: Settings) -> int | None:
    path = api_pid_file(settings)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and Path(f"/proc/{pid}").exists():
        return pid
    # Serving without our pid file (started by hand): the port's owner is the API.
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{settings.api.port}"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    return int(match.group(1)) if match else None


def process_roots(settings: Settings) -> dict[str, int]:
    """Root pid of every measured service's process tree (service name -> pid)."""
    stack = LocalStack(settings)
    roots: dict[str, int] = {}
    for name in (*MEASURED, *OTHER):
        pid = stack.pid_file(stack.services[name]).alive()
        if pid is not None:
            roots[name] = pid
    api = _api_pid(settings)
    if api is not None:
        roots["api"] = api
    missing = [n for n in ("api", *MEASURED) if n not in roots]
    if missing:
        raise RuntimeError(f"no running process found for {', '.join(missing)}")
    return roots


def keeper_restarts(settings: Settings) -> dict[str, int]:
    """How often each pipeline keeper restarted its command (a crash under load shows here)."""
    return {name: Restarts.read(settings.stack.home / "run", name).count for name in PIPELINE}


def payment_templates(seed: int = SEED) -> list[PaymentTemplate]:
    """The simulator's authorizations (20 merchants, 500 customers, a week) as POST bodies.

    The simulator's order and booking ids are left out: they name orders this benchmark
    never places. Customers, merchants, amounts, methods, cards and devices are its own.
    """
    from ingest.simulator.generator import SimulationConfig, simulate

    templates = []
    for event, _label in simulate(SimulationConfig(seed=seed, days=7)):
        if not isinstance(event, PaymentAuthorized):
            continue
        body: dict[str, object] = {
            "customer_id": event.customer_id,
            "amount": event.amount.model_dump(mode="json"),
            "method": event.method.value,
        }
        for name in ("card_fingerprint", "device_id", "ip_country"):
            value = getattr(event, name)
            if value is not None:
                body[name] = value
        templates.append(
            PaymentTemplate(
                event.merchant_id,
                event.customer_id,
                json.dumps(body, separators=(",", ":")).encode(),
            )
        )
    return templates


@dataclass
class Keys:
    """The bench's merchant keys (rate limits that never bind), revoked at the end."""

    by_merchant: dict[str, str]
    key_ids: list[str]


def create_keys(settings: Settings, merchants: list[str]) -> Keys:
    """One merchant key per merchant, created as the demo creates its keys
    (``api.keys.admin_store``), with a limit far above anything the load reaches."""
    from api.keys import admin_store
    from paystream.stores.redis import async_client

    async def go() -> Keys:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        keys = Keys({}, [])
        try:
            for merchant in merchants:
                key_id, key = await store.create("merchant", merchant, None, 1e9, 1_000_000_000)
                keys.by_merchant[merchant] = key
                keys.key_ids.append(key_id)
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
        return keys

    return asyncio.run(go())


def revoke_keys(settings: Settings, keys: Keys) -> None:
    """Revoke the bench's keys, so none outlives the benchmark."""
    from api.keys import admin_store
    from paystream.stores.redis import async_client

    async def go() -> None:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            for key_id in keys.key_ids:
                await store.revoke(key_id)
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    asyncio.run(go())


@dataclass(frozen=True)
class ReadTarget:
    """Who the read load reads as, and what."""

    merchant_id: str
    urls: list[tuple[str, str]]  # (name, url)
    source: str  # for the notes


def read_target(settings: Settings, fallback: PaymentTemplate) -> ReadTarget:
    """The demo's printed merchant and customer (its newest captured payment) when the
    ledger has one, else the bench's first simulated payment."""
    try:
        merchant, customer, _ = example_payment(settings)
        source = "the merchant and customer `make demo` prints"
    except Exception:  # no captured payment yet: the ledger is empty or holds no capture
        merchant, customer = fallback.merchant_id, fallback.customer_id
        source = "the bench's first simulated merchant and customer (no demo data found)"
    base = api_base(settings)
    urls = [
        ("recommendations", f"{base}/v1/customers/{customer}/recommendations?limit=10"),
        (
            "statements",
            f"{base}/v1/merchants/{merchant}/statements?from=2011-01-01&to=2011-01-31"
            "&granularity=day",
        ),
        ("recommendations", f"{base}/v1/customers/{customer}/recommendations?limit=10"),
    ]
    return ReadTarget(merchant, urls, f"{source} ({merchant}, {customer})")
