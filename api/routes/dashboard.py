"""The analyst dashboard (the Power BI role): one HTML page and its JSON endpoints.

The page is static HTML + plain JS drawing inline SVG (no CDN: browsers here have no
internet). It asks for an analyst key (``#key=...`` in the URL, never sent to the server as
part of the URL) and reads the ``/v1/dashboard/*`` endpoints below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from api.dependencies import AnalystDep, ResourcesDep
from api.problems import problem_responses
from api.tabular import rows
from paystream.errors import ServiceUnavailableError

STATIC = Path(__file__).resolve().parent.parent / "static"

page_router = APIRouter(tags=["dashboard"])
router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])
ERRORS = problem_responses(401, 403, 422, 429, 503)


@page_router.get("/dashboard", response_class=HTMLResponse, summary="The analyst dashboard")
async def dashboard_page() -> FileResponse:
    """Revenue, refunds, fraud and decline rates, top products and recommender metrics."""
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


@page_router.get("/dashboard/dashboard.js", include_in_schema=False)
async def dashboard_js() -> FileResponse:
    """The page's script."""
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript")


class Series(BaseModel):
    """Rows of one chart."""

    rows: list[dict[str, Any]]


class RecommenderRun(BaseModel):
    """The latest MLflow run of the recommender experiment."""

    experiment: str
    run_id: str | None = None
    run_name: str | None = None
    started_at: datetime | None = None
    metrics: dict[str, float] = {}
    message: str


@router.get("/revenue", response_model=Series, responses=ERRORS, summary="Revenue over time")
def revenue(
    resources: ResourcesDep,
    principal: AnalystDep,
    granularity: Literal["day", "month"] = "month",
) -> Any:
    """Gross, refunds and net of all merchants per period and currency (minor units)."""
    return {"rows": rows(resources.gold.revenue(granularity))}


@router.get("/risk", response_model=Series, responses=ERRORS, summary="Fraud and decline rates")
def risk(resources: ResourcesDep, principal: AnalystDep) -> Any:
    """Gold ``risk_kpis``: daily payments, declines, reviews, frauds and their rates."""
    return {"rows": rows(resources.gold.risk_kpis())}


@router.get("/top-products", response_model=Series, responses=ERRORS, summary="Top products")
async def top_products(
    resources: ResourcesDep,
    principal: AnalystDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    """Products by total interaction weight (gold ``interactions_customer_product``)."""
    table = await run_in_threadpool(resources.gold.top_products, limit)
    return {"rows": rows(table)}


@router.get(
    "/recommender",
    response_model=RecommenderRun,
    responses=ERRORS,
    summary="The recommender's latest MLflow metrics",
)
async def recommender(resources: ResourcesDep, principal: AnalystDep) -> RecommenderRun:
    """Metrics of the latest run of the recommender experiment, or "no runs yet"."""
    uri = resources.settings.mlflow.tracking_uri.rstrip("/")
    name = resources.settings.api.recommender_experiment
    try:
        found = await resources.http.get(
            f"{uri}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}
        )
        if found.status_code == 404:
            return RecommenderRun(experiment=name, message="no runs yet")
        found.raise_for_status()
        experiment_id = found.json()["experiment"]["experiment_id"]
        search = await resources.http.post(
            f"{uri}/api/2.0/mlflow/runs/search",
            json={
                "experiment_ids": [experiment_id],
                "max_results": 1,
                "order_by": ["attributes.start_time DESC"],
            },
        )
        search.raise_for_status()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise ServiceUnavailableError("MLflow", uri, type(exc).__name__) from exc
    runs = search.json().get("runs", [])
    if not runs:
        return RecommenderRun(experiment=name, message="no runs yet")
    info, data = runs[0]["info"], runs[0].get("data", {})
    return RecommenderRun(
        experiment=name,
        run_id=info.get("run_id"),
        run_name=info.get("run_name"),
        started_at=datetime.fromtimestamp(int(info.get("start_time", 0)) / 1000, UTC),
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics", [])},
        message="latest run",
    )
