"""``paystream api``: serve the HTTP API and manage its keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from paystream.errors import ConfigurationError, ServiceUnavailableError
from paystream.settings import get_settings

app = typer.Typer(help="The HTTP API: serve it, create keys and tokens.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys (HMACs in the ledger, cached in Redis).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
console = Console()


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default api.port, 8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="uvicorn worker processes (default api.workers, 1).", min=1),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the API with uvicorn: uvloop, httptools, no access log (metrics count requests).

    More than one worker forks processes that share the port; each keeps its own caches
    and its own /metrics, so prefer more processes behind a balancer that scrapes each.
    """
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    count = workers or settings.api.workers
    options: dict[str, Any] = {
        "host": host or settings.api.host,
        "port": port or settings.api.port,
        "log_level": log_level,
        # Named, not "auto": a missing C extension fails here instead of silently halving
        # the server's throughput with the pure-Python fallbacks.
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
    }
    if count == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Worker processes import the app themselves; settings come from the same env.
        uvicorn.run("api.app:create_app", factory=True, workers=count, **options)


async def _with_store(action: Any) -> Any:
    import redis.exceptions

    from api.keys import admin_store
    from paystream.stores.redis import async_client

    settings = get_settings()
    client = async_client(settings.redis)
    store, database = admin_store(settings, client)
    try:
        return await action(store)
    except redis.exceptions.ConnectionError as exc:
        raise ServiceUnavailableError("Redis", "redis.url", type(exc).__name__) from exc
    finally:
        database.dispose()
        await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5


@keys_app.command("create")
def create_key(
    merchant: Annotated[str | None, typer.Option("--merchant", help="Merchant id.")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="Limit the key to one customer (app side).")
    ] = None,
    analyst: Annotated[
        bool, typer.Option("--analyst", help="Analyst key: dashboard data, no merchant data.")
    ] = False,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Requests/s for this key (default api.*).")
    ] = None,
    burst: Annotated[int | None, typer.Option("--burst", help="Bucket size for this key.")] = None,
) -> None:
    """Create an API key and print it once (only its HMAC is stored)."""
    role = "analyst" if analyst else "merchant"
    try:
        key_id, key = asyncio.run(
            _with_store(lambda s: s.create(role, merchant, customer, rate, burst))
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    console.print(f"key id: {key_id}  role: {role}  merchant: {merchant}  customer: {customer}")
    console.print("[bold]store this key now; it is not shown again:[/]")
    print(key)


@keys_app.command("list")
def list_keys() -> None:
    """List key ids and scopes from the ledger (never the keys), revoked ones marked."""
    records = asyncio.run(_with_store(lambda s: asyncio.to_thread(s.ledger.listing)))
    table = Table("key id", "role", "merchant", "customer", "created", "revoked")
    for key_id, record, revoked_at in records:
        table.add_row(
            key_id,
            record.role,
            record.merchant_id or "",
            record.customer_id or "",
            str(record.created_at),
            str(revoked_at or ""),
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="Key id to delete.")]) -> None:
    """Revoke a key: every API process refuses it within a second (api.auth.KeyStore)."""
    if not asyncio.run(_with_store(lambda s: s.revoke(key_id))):
        raise ConfigurationError(f"no API key with id {key_id}")
    console.print(f"revoked {key_id}")


@app.command("token")
def token(
    subject: Annotated[str, typer.Option("--subject", help="Who the token is for.")],
    merchant: Annotated[str | None, typer.Option("--merchant", help="Merchant id.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    analyst: Annotated[bool, typer.Option("--analyst", help="Analyst role.")] = False,
    hours: Annotated[
        float,
        typer.Option(
            "--hours",
            min=0.01,
            max=24,
            help="Validity in hours (at most 24: a JWT cannot be revoked before it expires).",
        ),
    ] = 1.0,
) -> None:
    """Print a JWT signed with api.jwt_secret carrying the given scope."""
    from api.auth import TokenIssuer

    issuer = TokenIssuer(get_settings().api.require_secrets()[0])
    try:
        print(
            issuer.issue(
                subject,
                "analyst" if analyst else "merchant",
                merchant,
                customer,
                timedelta(hours=hours),
            )
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
