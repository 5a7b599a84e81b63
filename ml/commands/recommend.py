"""``paystream recommend``: what the platform serves a merchant for a customer."""

from __future__ import annotations

from typing import Annotated

import typer

from ml.commands.render import console, served_table
from paystream.datasets.online_retail import MERCHANT_ID as RETAIL_MERCHANT
from paystream.settings import get_settings


def recommend(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. cust-17850.")],
    merchant: Annotated[
        str,
        typer.Option(
            "--merchant", help="The merchant whose list to show (lists are per merchant)."
        ),
    ] = RETAIL_MERCHANT,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Redis namespace (default: streams.namespace)."),
    ] = None,
) -> None:
    """Print what the platform serves a merchant for a customer (their list, else the
    merchant's popular one)."""
    from ml.recommender.serving import read_recommendations, redis_client
    from paystream.contracts.served import ServedKeys

    settings = get_settings()
    client = redis_client(settings.redis)
    keys = ServedKeys(namespace or settings.streams.namespace)
    found, fallback = read_recommendations(client, keys, customer_id, merchant)
    client.close()
    if found is None:
        console.print(
            "nothing is served yet; train and serve with `paystream train recommender --promote`"
        )
        raise typer.Exit(1)
    who = "popular list (no personal list)" if fallback else customer_id
    console.print(served_table(found, who))
