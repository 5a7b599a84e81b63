"""The analyst dashboard (the Power BI role): one HTML page and its JSON endpoints.

Every series endpoint takes the page's date range as ``from`` and ``to`` (inclusive days).

The page is static HTML + plain JS drawing inline SVG (no CDN: browsers here have no
internet). It asks for an analyst key (``#key=...`` in the URL, never sent to the server as
part of the URL) and reads the ``/v1/dashboard/*`` endpoints below.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from api.dependencies import AnalystDep, ResourcesDep
from api.problems import ApiProblem, problem_responses
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


class Period(BaseModel):
    """The days gold covers: the date filter's bounds (None when gold is empty)."""

    first_day: date | None
    last_day: date | None


class RecommenderRun(BaseModel):
    """The latest MLflow run of the recommender experiment.

    ``models`` regroups the run's ``<model>_<metric>`` metrics per model, so the page can set
    ALS beside its baselines metric by metric; ``fit_s`` holds each model's fit time, which
    is seconds, not a score, and is kept apart. ``metrics`` is the run's raw metrics.
    """

    experiment: str
    run_id: str | None = None
    run_name: str | None = None
    started_at: datetime | None = None
    metrics: dict[str, float] = {}
    models: dict[str, dict[str, float]] = {}
    fit_s: dict[str, float] = {}
    message: str


# ``als_ndcg_at_10`` → ("als", "ndcg_at_10"); un-prefixed summaries such as ``ndcg_at_10``
# or ``ndcg_at_10_over_popularity`` match nothing and stay in ``metrics`` only.
_MODEL_METRIC = re.compile(
    r"^(?P<model>[a-z0-9]+)_(?P<metric>(?:precision|recall|ndcg|map)_at_\d+|coverage|fit_s)$"
)


def per_model(metrics: dict[str, float]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Split ``<model>_<metric>`` keys into ranking metrics per model and fit seconds."""
    models: dict[str, dict[str, float]] = {}
    fit_s: dict[str, float] = {}
    for key, value in sorted(metrics.items()):
        found = _MODEL_METRIC.match(key)
        if found is None:
            continue
        model, metric = found["model"], found["metric"]
        if metric == "fit_s":
            fit_s[model] = value
        else:
            models.setdefault(model, {})[metric] = value
    return models, fit_s


From = Annotated[date | None, Query(alias="from", description="First day (inclusive)")]
To = Annotated[date | None, Query(description="Last day (inclusive)")]


def _range(from_: date | None, to: date | None) -> tuple[date | None, date | None]:
    if from_ is not None and to is not None and from_ > to:
        raise ApiProblem(422, "`from` must not be after `to`", "validation-error")
    return from_, to


@router.get("/period", response_model=Period, responses=ERRORS, summary="Days gold covers")
def period(resources: ResourcesDep, principal: AnalystDep) -> Period:
    """The first and last day of the daily statements: the date filter's default range."""
    first, last = resources.gold.period()
    return Period(first_day=first, last_day=last)


@router.get("/revenue", response_model=Series, responses=ERRORS, summary="Revenue over time")
def revenue(
    resources: ResourcesDep,
    principal: AnalystDep,
    granularity: Literal["day", "month"] = "month",
    from_: From = None,
    to: To = None,
) -> Any:
    """Gross, refunds and net of all merchants per period and currency (minor units)."""
    start, end = _range(from_, to)
    return {"rows": rows(resources.gold.revenue(granularity, start, end))}


@router.get("/risk", response_model=Series, responses=ERRORS, summary="Fraud and decline rates")
def risk(resources: ResourcesDep, principal: AnalystDep, from_: From = None, to: To = None) -> Any:
    """Gold ``risk_kpis``: daily payments, declines, reviews, frauds and their rates."""
    return {"rows": rows(resources.gold.risk_kpis(*_range(from_, to)))}


@router.get("/reasons", response_model=Series, responses=ERRORS, summary="Decisions by reason code")
def reasons(
    resources: ResourcesDep, principal: AnalystDep, from_: From = None, to: To = None
) -> Any:
    """Gold ``risk_reasons`` summed over the range: decisions per reason code and decision."""
    return {"rows": rows(resources.gold.risk_reasons(*_range(from_, to)))}


@router.get("/top-products", response_model=Series, responses=ERRORS, summary="Top products")
async def top_products(
    resources: ResourcesDep,
    principal: AnalystDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    from_: From = None,
    to: To = None,
) -> Any:
    """Products by units sold over the range, with their names (gold ``product_daily``)."""
    start, end = _range(from_, to)
    table = await run_in_threadpool(resources.gold.top_products, limit, start, end)
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
    metrics = {m["key"]: float(m["value"]) for m in data.get("metrics", [])}
    models, fit_s = per_model(metrics)
    return RecommenderRun(
        experiment=name,
        run_id=info.get("run_id"),
        run_name=info.get("run_name"),
        started_at=datetime.fromtimestamp(int(info.get("start_time", 0)) / 1000, UTC),
        metrics=metrics,
        models=models,
        fit_s=fit_s,
        message="latest run",
    )
