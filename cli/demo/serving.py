"""The demo's last steps: train and serve recommendations, then leave the API serving.

The API runs as a background process (see :mod:`compose.local.api_process`) so that the demo
can end and print calls that work against it.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from rich.console import Console

from compose.local.api_process import api_pid_file, example_payment
from paystream.settings import Settings


def train_recommender(settings: Settings, console: Console) -> None:
    """Fit, evaluate, register and serve the recommender on gold interactions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ml.recommender.pipeline import TrainConfig, run

    config = TrainConfig(interactions=None, promote=True, serve=True, graph=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as bar:
        result = run(settings, config, progress=bar)
    verdict = "champion" if result.promotion and result.promotion.promoted else "challenger"
    served = result.served.customers if result.served else 0
    console.print(
        f"recommender v{result.version} ({verdict}), {served:,} customers served to Redis; "
        f"{result.serve_note}"
    )


def _keys(settings: Settings, merchant_id: str) -> tuple[str, str]:
    from api.keys import admin_store
    from paystream.stores.redis import async_client

    async def create() -> tuple[str, str]:
        client = async_client(settings.redis)
        store, database = admin_store(settings, client)
        try:
            _, merchant_key = await store.create("merchant", merchant_id)
            _, analyst_key = await store.create("analyst")
        finally:
            database.dispose()
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
        return merchant_key, analyst_key

    return asyncio.run(create())


def print_example_calls(settings: Settings, console: Console) -> tuple[str, float] | None:
    """Create a merchant key and an analyst key and print calls that work right now; the
    payment posted last, as :func:`post_and_follow` returns it."""
    merchant_id, customer_id, payment_id = example_payment(settings)
    merchant_key, analyst_key = _keys(settings, merchant_id)
    base = f"http://{settings.api.host}:{settings.api.port}"
    auth = f'-H "X-API-Key: {merchant_key}"'
    console.print(f"API serving at {base} (pid file {api_pid_file(settings)}); try:")
    for call in (
        f"curl -s {auth} {base}/v1/payments/{payment_id}",
        f"curl -s {auth} {base}/v1/payments/{payment_id}/risk",
        f"curl -s {auth} '{base}/v1/customers/{customer_id}/recommendations?limit=5'",
        f"curl -s {auth} '{base}/v1/customers/{customer_id}/history'",
        f"curl -s {auth} '{base}/v1/merchants/{merchant_id}/statements"
        f"?from=2010-12-01&to=2011-12-31&granularity=month'",
        f"curl -s {auth} -H 'Accept: text/csv' '{base}/v1/merchants/{merchant_id}/statements"
        f"?from=2011-01-01&to=2011-01-31&granularity=day'",
    ):
        console.print(f"  {call}", soft_wrap=True, highlight=False)
    console.print(f"  dashboard: {base}/dashboard#key={analyst_key}", soft_wrap=True)
    posted = post_and_follow(base, merchant_key, customer_id, console)
    console.print(f"stop it with: kill $(cat {api_pid_file(settings)})", highlight=False)
    return posted


def _call(
    url: str, key: str, body: dict[str, Any] | None = None, idempotency: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    if idempotency:
        headers["Idempotency-Key"] = idempotency
    data = json.dumps(body).encode() if body is not None else None
    # An http:// URL built from the API's own settings, never from input.
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(json.load(response))
    except urllib.error.HTTPError as error:
        return error.code, {}


def post_and_follow(
    base: str, key: str, customer_id: str, console: Console
) -> tuple[str, float] | None:
    """Post a payment through the API, then show it on the replica and its risk decision.

    Proves the platform is live when the demo ends: the pipeline services apply and score
    what the API accepts. The calls are printed as curl commands users can repeat. Returns
    the payment's id and the ``time.monotonic()`` of its POST (None when it was refused).
    """
    body = {"customer_id": customer_id, "amount": {"amount_minor": 1250, "currency": "GBP"}}
    idempotency = f"demo-{uuid.uuid4().hex[:12]}"
    console.print("a payment through the API, then the ledger row and the risk decision:")
    console.print(
        f"  curl -s -H 'X-API-Key: {key}' -H 'Idempotency-Key: {idempotency}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps(body)}' {base}/v1/payments",
        soft_wrap=True,
        highlight=False,
    )
    started = time.monotonic()
    status, accepted = _call(f"{base}/v1/payments", key, body, idempotency)
    if status != 202:
        console.print(f"[red]the API answered {status} to the payment[/]")
        return None
    payment_id = accepted["payment_id"]
    console.print(f"  → {status} {json.dumps(accepted)}", soft_wrap=True, highlight=False)
    for path in (f"/v1/payments/{payment_id}", f"/v1/payments/{payment_id}/risk"):
        url = f"{base}{path}"
        console.print(f"  curl -s -H 'X-API-Key: {key}' {url}", soft_wrap=True, highlight=False)
        deadline = time.monotonic() + 10
        while True:
            status, found = _call(url, key)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        took = time.monotonic() - started
        if status != 200:
            console.print(f"[red]  → {status} after {took:.1f} s: is the pipeline running?[/]")
            continue
        shown = {k: found[k] for k in ("status", "decision", "score", "reasons") if k in found}
        console.print(
            f"  → 200 after {took:.2f} s from the POST: {json.dumps(shown)}",
            soft_wrap=True,
            highlight=False,
        )
    return payment_id, started


def start_sql_endpoint(settings: Settings, console: Console) -> None:
    """Leave the SQL endpoint serving the demo's gold, and say how BI tools connect."""
    from compose.local.stack import LocalStack
    from lakehouse.serving.endpoint import jdbc_url
    from paystream.settings import LOCAL_SECRETS_FILE

    stack = LocalStack(settings)
    with console.status("starting the SQL endpoint (Spark's Thrift server)…"):
        # Restarted, so that it serves the tables of the build that just ran.
        stack.down(lambda line: None, ["sql"])
        stack.up(lambda line: console.log(line), ["sql"])
    console.print(
        f"SQL endpoint serving gold at {jdbc_url(settings)}; the password is "
        f"PAYSTREAM_SQL__PASSWORD in {LOCAL_SECRETS_FILE}. Connect Power BI, Tableau, "
        "Superset or DBeaver as docs/bi.md shows; `paystream stack down sql` stops it."
    )
