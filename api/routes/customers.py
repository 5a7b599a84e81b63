"""/v1/customers: recommendations (Redis) and payment history (Delta gold)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from api.dependencies import (
    MerchantDep,
    MerchantUnchargedDep,
    ResourcesDep,
    charge,
    check_customer_visible,
)
from api.problems import not_found, problem_responses
from api.tabular import CSV_RESPONSE_DOC, Format, csv_response, rows, wants_csv
from paystream.contracts.served import RecommendedItem
from paystream.errors import ServiceUnavailableError

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class RecommendationsOut(BaseModel):
    """Top-N items for a customer, or the popular list when the customer has none.

    Each item carries the product's ``name`` and the merchant's latest ``unit_price``
    (integer minor units + ISO 4217 currency) from gold ``product_catalogue``, so an app can
    show it without another call; both are null for a product the catalogue does not know.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C17850",
                    "fallback": False,
                    "model_name": "paystream-recommender",
                    "model_version": "3",
                    "generated_at": "2026-11-25T09:00:00Z",
                    "items": [
                        {
                            "item_id": "85123A",
                            "score": 0.93,
                            "source": "als",
                            "name": "WHITE HANGING HEART T-LIGHT HOLDER",
                            "unit_price": {"amount_minor": 295, "currency": "GBP"},
                        }
                    ],
                }
            ]
        }
    )

    customer_id: str
    fallback: bool
    model_name: str
    model_version: str
    generated_at: datetime
    items: list[RecommendedItem]


class HistoryRow(BaseModel):
    """One payment of the customer at the caller's merchant."""

    customer_id: str
    merchant_id: str
    payment_id: str
    currency: str
    amount_minor: int
    refunded_minor: int
    status: str
    authorized_at: datetime
    captured_at: datetime | None
    decision: str | None


class History(BaseModel):
    """A customer's payments at the caller's merchant, newest first."""

    customer_id: str
    merchant_id: str
    payments: list[HistoryRow]


@router.get(
    "/{customer_id}/recommendations",
    response_model=RecommendationsOut,
    summary="Recommended products for a customer",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def recommendations(
    customer_id: CustomerId,
    response: Response,
    resources: ResourcesDep,
    principal: MerchantUnchargedDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    """The customer's list from the recommender, else the popular list (``fallback``: true),
    each item with its name and latest unit price where the catalogue knows them."""
    merchant = principal.merchant_id
    assert merchant is not None
    keys = resources.served
    # Per merchant: the list was learnt from this merchant's interactions and names only its
    # catalogue, so a customer's visibility here never reveals what they did elsewhere. The
    # rate limit and both lists go in one Redis round trip; a 429 costs the same trip.
    personal, popular = await charge(
        resources,
        principal,
        response,
        (keys.recommendations(customer_id, merchant), keys.popular(merchant)),
    )
    if principal.customer_id is not None or not resources.known_member(customer_id, merchant):
        # Only a cache miss pays for the thread hop and the replica lookup.
        await run_in_threadpool(check_customer_visible, resources, principal, customer_id)
    raw = personal if personal is not None else popular
    if raw is None:
        raise ServiceUnavailableError(
            "recommender", keys.popular(merchant), "no recommendations published yet"
        )
    # The trainer wrote this JSON from the same model (paystream.contracts.served), so it is
    # passed through rather than validated twice per request; response_model still documents
    # the shape in OpenAPI.
    stored = json.loads(raw)
    items = stored["items"][:limit]
    if items and "unit_price" not in items[0]:
        # A list written before items carried names and prices: they are served as unknown.
        items = [{**item, "name": None, "unit_price": None} for item in items]
    body = {
        "customer_id": customer_id,
        "fallback": personal is None,
        "model_name": stored["model_name"],
        "model_version": stored["model_version"],
        "generated_at": stored["generated_at"],
        "items": items,
    }
    return Response(
        json.dumps(body, separators=(",", ":")),
        media_type="application/json",
        headers={"RateLimit-Remaining": response.headers["RateLimit-Remaining"]},
    )


@router.get(
    "/{customer_id}/history",
    response_model=History,
    summary="A customer's payments at the caller's merchant (Delta gold)",
    responses={**CSV_RESPONSE_DOC, **problem_responses(401, 403, 404, 422, 429, 503)},
)
def history(
    customer_id: CustomerId,
    request: Request,
    resources: ResourcesDep,
    principal: MerchantDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    format: Annotated[Format | None, Query(description="csv for a download")] = None,
) -> Any:
    """Rows of gold ``customer_payment_history`` for this customer and the caller's merchant."""
    merchant_id = principal.merchant_id
    assert merchant_id is not None
    if principal.customer_id is not None and principal.customer_id != customer_id:
        raise not_found(f"no customer {customer_id} for this API key")
    table = resources.gold.history(customer_id, merchant_id, limit)
    if table.num_rows == 0:
        raise not_found(f"no customer {customer_id} for this API key")
    if wants_csv(request, format):
        return csv_response(table, f"history-{customer_id}.csv")
    return {"customer_id": customer_id, "merchant_id": merchant_id, "payments": rows(table)}
