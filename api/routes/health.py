"""Liveness, readiness (each dependency checked) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from api.dependencies import AnalystDep, ResourcesDep
from api.problems import PROBLEM_JSON, not_found, problem_responses
from api.resources import Resources
from paystream.contracts.freshness import GoldFreshness
from paystream.contracts.gold import SERVED_TABLES
from paystream.stores.redis import RedisKeys

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 4.0


class Health(BaseModel):
    """Liveness."""

    status: str = "ok"


class GoldFreshnessView(BaseModel):
    """How far behind the ledger gold is, from the lakehouse service's last refresh."""

    lag_s: float
    covers_until: datetime
    source_watermark: datetime | None
    refreshed_at: datetime
    refresh_s: float
    status: str


class Readiness(BaseModel):
    """Each dependency and whether it answered, and gold's freshness (null when the
    lakehouse service has never run)."""

    status: str
    checks: dict[str, str]
    gold_freshness: GoldFreshnessView | None = None


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health()


async def _redis(r: Resources) -> None:
    await r.redis.ping()


def _replica_sync(r: Resources) -> None:
    with r.reader.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


async def _replica(r: Resources) -> None:
    await run_in_threadpool(_replica_sync, r)


async def _kafka(r: Resources) -> None:
    await r.producer.check(r.settings.kafka.topic("payments"))


def _gold_sync(r: Resources) -> None:
    missing = [name for name in SERVED_TABLES if not r.gold.exists(name)]
    if missing:
        raise RuntimeError(f"missing: {', '.join(missing)}")


async def _gold(r: Resources) -> None:
    await run_in_threadpool(_gold_sync, r)


CHECKS: dict[str, Callable[[Resources], Awaitable[None]]] = {
    "Redis": _redis,
    "MySQL replica": _replica,
    "Kafka": _kafka,
    "Delta gold tables": _gold,
}


async def _run(name: str, check: Callable[[Resources], Awaitable[None]], r: Resources) -> str:
    try:
        await asyncio.wait_for(check(r), CHECK_TIMEOUT_S)
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        return f"down: {detail[:200]}"
    return "ok"


class Ready(BaseModel):
    """Readiness as anonymous callers see it: no names, versions or errors."""

    status: str = "ready"


async def _checks(resources: Resources) -> dict[str, str]:
    names = list(CHECKS)
    results = await asyncio.gather(*(_run(n, CHECKS[n], resources) for n in names))
    return dict(zip(names, results, strict=True))


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness: Redis, the MySQL replica, Kafka and the gold tables all answer",
    responses=problem_responses(503),
)
async def readyz(resources: ResourcesDep) -> Any:
    """200 when every dependency answers, else 503.

    Anyone may call it (load balancers, probes), so it says only ready or not: which store is
    down, and its error, would map the infrastructure for an attacker. The details go to the
    log and to ``GET /v1/status`` (analyst keys).
    """
    checks = await _checks(resources)
    down = [name for name, result in checks.items() if result != "ok"]
    if not down:
        return Ready()
    log.warning("not ready: %s", "; ".join(f"{n}: {checks[n]}" for n in down))
    return JSONResponse(
        {
            "type": "https://paystream.dev/problems/service-unavailable",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "not ready",
            "instance": "/readyz",
        },
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": "5"},
    )


@router.get(
    "/v1/status",
    response_model=Readiness,
    summary="Each dependency and whether it answered (analyst keys)",
    responses=problem_responses(401, 403, 429),
)
async def status(resources: ResourcesDep, principal: AnalystDep) -> Readiness:
    """The readiness checks one by one, with the error of each that failed."""
    checks = await _checks(resources)
    ready = all(result == "ok" for result in checks.values())
    return Readiness(
        status="ready" if ready else "not ready",
        checks=checks,
        gold_freshness=await _gold_freshness(resources),
    )


async def _gold_freshness(resources: Resources) -> GoldFreshnessView | None:
    """The lakehouse service's record in Redis; None when absent or Redis is down (the
    Redis check already says so)."""
    key = RedisKeys(resources.settings.streams.namespace).gold_freshness
    try:
        fields = await asyncio.wait_for(resources.redis.hgetall(key), CHECK_TIMEOUT_S)
    except Exception:  # reported by the Redis check
        return None
    record = GoldFreshness.from_fields(fields)
    if record is None:
        return None
    return GoldFreshnessView(
        lag_s=round(record.lag_s(), 1),
        covers_until=record.covers_until,
        source_watermark=record.source_watermark,
        refreshed_at=record.refreshed_at,
        refresh_s=record.refresh_s,
        status=record.status,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
)
async def metrics(resources: ResourcesDep) -> Response:
    """Request counts, latency histograms, accepted payments and rate-limit refusals.

    404 when ``api.metrics_port`` moves them to a port of their own.
    """
    if resources.settings.api.metrics_port is not None:
        raise not_found("metrics are served on their own port")
    return Response(generate_latest(resources.metrics.registry), media_type=CONTENT_TYPE_LATEST)
