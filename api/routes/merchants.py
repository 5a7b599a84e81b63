"""/v1/merchants: statements from Delta gold ``merchant_statements``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.dependencies import MerchantDep, ResourcesDep
from api.problems import ApiProblem, not_found, problem_responses
from api.tabular import CSV_RESPONSE_DOC, Format, csv_response, rows, wants_csv

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])

MerchantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class StatementRow(BaseModel):
    """Totals of one period in one currency (integer minor units)."""

    merchant_id: str
    currency: str
    granularity: str
    period_start: date
    gross_minor: int
    refunds_minor: int
    net_minor: int
    payment_count: int
    refund_count: int


class Statement(BaseModel):
    """A merchant's statement over a date range."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "merchant_id": "M-online-retail",
                    "granularity": "month",
                    "from": "2011-01-01",
                    "to": "2011-03-31",
                    "periods": [
                        {
                            "merchant_id": "M-online-retail",
                            "currency": "GBP",
                            "granularity": "month",
                            "period_start": "2011-01-01",
                            "gross_minor": 56000000,
                            "refunds_minor": 1200000,
                            "net_minor": 54800000,
                            "payment_count": 1400,
                            "refund_count": 35,
                        }
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    merchant_id: str
    granularity: str
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    periods: list[StatementRow]


@router.get(
    "/{merchant_id}/statements",
    response_model=Statement,
    summary="A merchant's statement by day or month (Delta gold)",
    responses={**CSV_RESPONSE_DOC, **problem_responses(401, 403, 404, 422, 429, 503)},
)
def statements(
    merchant_id: MerchantId,
    request: Request,
    resources: ResourcesDep,
    principal: MerchantDep,
    from_: Annotated[date | None, Query(alias="from", description="First period (incl.)")] = None,
    to: Annotated[date | None, Query(description="Last period start (inclusive)")] = None,
    granularity: Literal["day", "month"] = "day",
    format: Annotated[Format | None, Query(description="csv for a download")] = None,
) -> Any:
    """Gross, refunds and net per period and currency; sums reconcile with the ledger."""
    if merchant_id != principal.merchant_id or principal.customer_id is not None:
        raise not_found(f"no merchant {merchant_id} for this API key")
    if from_ is not None and to is not None and from_ > to:
        raise ApiProblem(422, "`from` must not be after `to`", "validation-error")
    table = resources.gold.statements(merchant_id, granularity, from_, to)
    if wants_csv(request, format):
        return csv_response(table, f"statement-{merchant_id}-{granularity}.csv")
    return {
        "merchant_id": merchant_id,
        "granularity": granularity,
        "from_": from_,
        "to": to,
        "periods": rows(table),
    }
