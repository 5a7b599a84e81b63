"""Security probes: a bounded black-box run of the known attacks against the local API.

``python -m bench.security`` starts ``paystream api serve`` (the command and settings users
run) on loopback over a throw-away world, tries each attack of the security review once and
records how many were blocked (``security.probes_passed``, reference: probes tried). It then
runs Schemathesis against the same server for a bounded time and records the server errors
it found (``security.schemathesis_server_errors``, target 0). Nothing leaves 127.0.0.1, and
every request has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import jwt
import typer
from rich.console import Console
from rich.table import Table

from api.auth import AUDIENCE, KeyStore
from api.keys import admin_store
from bench.lib.api_world import build_world, create_key, destroy_world, start_server
from bench.lib.probe import Probe
from bench.lib.record import Figure, write
from bench.lib.security_stores import store_probes
from bench.lib.security_tenancy import tenancy_probes
from compose.local.process import free_port
from paystream.bus.kafka import ensure_topics
from paystream.errors import ConfigurationError
from paystream.settings import Settings
from paystream.stores.fraud_model import check_safe_format
from paystream.stores.redis import async_client

console = Console()
T = TypeVar("T")
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
VISA = "4111111111111111"
# The development default that main shipped before secrets were required.
OLD_DEFAULT_SECRET = "paystream-dev-jwt-secret-change-me"  # noqa: S105 (a known-bad value)


def _token(secret: str, **claims: object) -> str:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": "paystream",
        "aud": AUDIENCE,
        "jti": uuid.uuid4().hex,
        "sub": "probe",
        "iat": now,
        "exp": now + 600,
        "role": "merchant",
        "merchant_id": "M0000",
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret, "HS256")


def _admin(settings: Settings, action: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Run ``action`` on an admin key store (it may create and revoke keys)."""

    async def go() -> T:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            return await action(store)
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def _key(settings: Settings, **kwargs: Any) -> tuple[str, str]:
    return _admin(settings, lambda store: store.create(**kwargs))


def _revoke(settings: Settings, key_id: str) -> None:
    _admin(settings, lambda store: store.revoke(key_id))


def run_probes(base: str, settings: Settings, merchant_key: str) -> list[Probe]:
    """Try every attack once; each returns whether it was blocked and what was seen."""
    secret = settings.api.require_secrets()[0]
    body = {"customer_id": "C00001", "amount": {"amount_minor": 1250, "currency": "GBP"}}
    client = httpx.Client(base_url=base, timeout=10)
    merchant = {"X-API-Key": merchant_key}

    def post(payload: object, headers: dict[str, str], **kw: object) -> httpx.Response:
        key = {"Idempotency-Key": f"probe-{uuid.uuid4()}"}
        return client.post("/v1/payments", json=payload, headers={**headers, **key}, **kw)  # type: ignore[arg-type]

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    _, other_key = _key(settings, role="merchant", merchant_id="M0001")
    _, app_key = _key(settings, role="merchant", merchant_id="M0000", customer_id="C00001")
    revoked_id, revoked_key = _key(settings, role="merchant", merchant_id="M0000")
    _revoke(settings, revoked_id)
    time.sleep(1.1)  # the longest a revocation may take to reach every API process

    checks: list[tuple[str, str, Callable[[], httpx.Response], Callable[[httpx.Response], bool]]]
    checks = [
        (
            "forged_default_secret",
            "JWT signed with the old development default secret",
            lambda: client.get(
                "/v1/payments/bench-C00000", headers=bearer(_token(OLD_DEFAULT_SECRET))
            ),
            lambda r: r.status_code == 401,
        ),
        (
            "jwt_without_audience",
            "JWT with the real secret but no aud",
            lambda: client.get(
                "/v1/payments/bench-C00000", headers=bearer(_token(secret, aud=None))
            ),
            lambda r: r.status_code == 401,
        ),
        (
            "jwt_for_a_year",
            "JWT with the real secret living 365 days",
            lambda: client.get(
                "/v1/payments/bench-C00000",
                headers=bearer(_token(secret, exp=int(time.time()) + 365 * 86400)),
            ),
            lambda r: r.status_code == 401,
        ),
        (
            "revoked_key",
            "API key used 1.1 s after its revocation",
            lambda: client.get("/v1/payments/bench-C00000", headers={"X-API-Key": revoked_key}),
            lambda r: r.status_code == 401,
        ),
        (
            "cross_merchant_read",
            "merchant M0001 reads M0000's payment",
            lambda: client.get("/v1/payments/bench-C00000", headers={"X-API-Key": other_key}),
            lambda r: r.status_code == 404,
        ),
        (
            "app_key_reads_risk",
            "customer-scoped key reads a risk decision",
            lambda: client.get("/v1/payments/bench-C00001/risk", headers={"X-API-Key": app_key}),
            lambda r: r.status_code == 403,
        ),
        (
            "pan_in_customer_id",
            "card number as customer_id",
            lambda: post({**body, "customer_id": VISA}, merchant),
            lambda r: r.status_code == 422 and "4111" not in r.text,
        ),
        (
            "pan_in_ip_country",
            "card number with spaces in ip_country",
            lambda: post({**body, "ip_country": "4111 1111 1111 1111"}, merchant),
            lambda r: r.status_code == 422 and "4111" not in r.text,
        ),
        (
            "pan_field",
            "extra field named pan",
            lambda: post({**body, "pan": VISA}, merchant),
            lambda r: r.status_code == 422 and "4111" not in r.text,
        ),
        (
            "zero_amount",
            "zero-amount payment to link a foreign customer",
            lambda: post({**body, "amount": {"amount_minor": 0, "currency": "GBP"}}, merchant),
            lambda r: r.status_code == 422,
        ),
        (
            "oversized_body",
            "100 KiB body without credentials",
            lambda: client.post("/v1/payments", content=b"x" * 102_400),
            lambda r: r.status_code == 413,
        ),
        (
            "malformed_json_anonymous",
            "malformed JSON without credentials",
            lambda: client.post("/v1/payments", content=b"{not json"),
            lambda r: r.status_code == 401,
        ),
        (
            "readyz_map",
            "anonymous /readyz naming the stores",
            lambda: client.get("/readyz"),
            lambda r: not re.search(r"MySQL|Redis|Kafka|Delta", r.text),
        ),
        (
            "status_anonymous",
            "anonymous GET /v1/status",
            lambda: client.get("/v1/status"),
            lambda r: r.status_code == 401,
        ),
    ]
    probes: list[Probe] = []
    for name, attack, send, blocked in checks:
        try:
            response = send()
            probes.append(Probe(name, attack, blocked(response), f"{response.status_code}"))
        except httpx.HTTPError as exc:
            probes.append(Probe(name, attack, False, f"{type(exc).__name__}"))
    client.close()
    probes.extend(_offline_probes(settings))
    return probes


def _offline_probes(settings: Settings) -> list[Probe]:
    """Attacks on the commands and loaders rather than the HTTP API."""
    from lakehouse.sql import QueryError, query

    probes = []
    out = Path(tempfile.gettempdir()) / f"paystream-probe-{uuid.uuid4().hex[:8]}.csv"
    try:
        query(settings.lakehouse.root, f"COPY merchant_statements TO '{out}'")
        probes.append(Probe("sql_copy_to_file", "paystream sql COPY ... TO a file", False, "ran"))
    except QueryError:
        blocked = not out.exists()
        probes.append(
            Probe("sql_copy_to_file", "paystream sql COPY ... TO a file", blocked, "refused")
        )
    try:
        check_safe_format({"serialization_format": "cloudpickle"}, "models:/probe/1")
        probes.append(
            Probe("pickled_model", "register a pickled model for the agents", False, "loaded")
        )
    except ConfigurationError:
        probes.append(
            Probe("pickled_model", "register a pickled model for the agents", True, "refused")
        )
    return probes


def schemathesis_server_errors(base: str, key: str, seconds: int) -> int:
    """Server errors (5xx) Schemathesis finds in ``seconds`` of fuzzing (bounded)."""
    argv = [
        SCHEMATHESIS, "run", f"{base}/openapi.json", "--checks", "not_a_server_error",
        "--max-examples", "20", "--max-time", str(seconds), "--seed", "20261202",
        "--generation-database", "none", "--workers", "2", "--phases", "examples,fuzzing",
        "--mode", "all", "--no-color", "--header", f"X-API-Key: {key}",
        "--exclude-path-regex", "^/v1/dashboard",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    output = result.stdout + result.stderr
    Path(tempfile.gettempdir(), "paystream-schemathesis.log").write_text(output)
    # One "Server error" block per distinct failing operation and response.
    return len(re.findall(r"Server error", output))


def main(
    fuzz_seconds: Annotated[int, typer.Option(help="Seconds of Schemathesis fuzzing.")] = 30,
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md and JSON.")] = True,
) -> None:
    """Probe the local API with every known attack, then fuzz it; record the figures."""
    world = build_world(merchants=2, days=30, customers=20)
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    started = datetime.now(UTC)
    try:
        # The world's own topics, so that intake reaches Kafka (a 503 would read as 5xx).
        asyncio.run(ensure_topics(world.settings.kafka))
        proc = start_server(world, port)
        base = f"http://127.0.0.1:{port}"
        key = create_key(world.settings, world.spec.merchants[0])
        probes = run_probes(base, world.settings, key)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
            probes += tenancy_probes(
                client, world.settings, world.spec.merchants, world.spec.customers
            )
            probes += store_probes(client, world.settings, world.spec.merchants[0])
        server_errors = schemathesis_server_errors(base, key, fuzz_seconds)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        destroy_world(world)
    table = Table("probe", "attack", "answer", "blocked")
    for p in probes:
        table.add_row(p.name, p.attack, p.seen, "[green]yes[/]" if p.blocked else "[red]NO[/]")
    console.print(table)
    blocked = sum(p.blocked for p in probes)
    console.print(
        f"{blocked}/{len(probes)} probes blocked; Schemathesis server errors: {server_errors} "
        f"({(datetime.now(UTC) - started).total_seconds():.0f} s)"
    )
    if not record:
        return
    command = f"python -m bench.security --fuzz-seconds {fuzz_seconds}"
    missed = [p.name for p in probes if not p.blocked]
    notes = (
        "Black-box probes against `paystream api serve` on loopback over a throw-away world, "
        "plus probes of the commands, the model loader, the ledger and the scorer. Probes: "
        + ", ".join(f"`{p.name}` ({p.seen})" for p in probes)
        + (f". Not blocked: {', '.join(missed)}." if missed else ". All blocked.")
        + f" Schemathesis: {fuzz_seconds} s of examples and fuzzing, merchant key, "
        "check not_a_server_error. Tenancy and money probes (bench/lib/security_tenancy.py): "
        "another merchant's recommendations through a self-created payment, a decline from "
        "forged cross-merchant evidence, an over-refund through the ledger sink, and "
        "MLflow's auth in the shipped manifest. Store probes (bench/lib/security_stores.py): "
        "a customer id with ':customer:' against another merchant's Redis key, the old "
        "default MySQL password (settings for a remote host, a login to the primary), and "
        "hostile text through the ledger's SQL literals in both quoting modes."
    )
    write(
        "Security probes",
        [
            Figure(
                "security.probes_passed", "probes", [float(blocked)], command,
                "probes tried", [float(len(probes))], f"= {len(probes)}",
            ),
            Figure(
                "security.schemathesis_server_errors", "errors", [float(server_errors)],
                command, target="0", higher_is_better=False,
            ),
        ],
        notes,
    )  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
