"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from api.bodyguard import BodyGuard
from api.metrics import ApiMetrics, MetricsMiddleware
from api.problems import install_problem_handlers
from api.resources import Resources, lifespan
from api.routes import customers, dashboard, health, merchants, payments
from paystream.settings import Settings, get_settings

DESCRIPTION = """
Results out, payment intake in. Reads come from Redis, the MySQL **read replica** and the
Delta **gold** tables (delta-rs, no JVM); the API never touches the primary. Payment intake
produces a `payment.authorized` event to Kafka; the stream workers do the rest.

* **Auth**: `X-API-Key: psk_...` or `Authorization: Bearer <key or JWT>`. Keys are scoped to
  a merchant (optionally one customer of it) or carry the analyst role (dashboard).
  Another merchant's resources answer **404**, never 403, so existence is not revealed.
* **Rate limits**: a token bucket per key; **429** with `Retry-After`.
* **Errors**: RFC 9457 `application/problem+json` everywhere; **503** names the dependency
  that is down in `service`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; clients are created here but connect only when first used."""
    settings = settings or get_settings()
    # Whatever the environment: a default, short or placeholder secret lets anyone mint tokens.
    settings.api.require_secrets()
    metrics = ApiMetrics()
    app = FastAPI(
        title="paystream API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.resources = Resources.create(settings, metrics)
    install_problem_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Added last, so it runs first: size and credentials are checked before a body is read.
    app.add_middleware(BodyGuard, max_body_bytes=settings.api.max_body_bytes)
    for module in (payments, customers, merchants, dashboard, health):
        app.include_router(module.router)
    app.include_router(dashboard.page_router)
    return app
