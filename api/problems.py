"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Validation errors, unknown routes, tenant misses, rate limits and unreachable dependencies all
go through here, so a client parses one error shape. Request inputs are never echoed back: a
rejected body may hold a card number.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from paystream.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://paystream.dev/problems/"


class FieldError(BaseModel):
    """One invalid field of a request."""

    location: str = Field(description="Where the field is: body.amount.currency, query.limit")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": f"{TYPE_BASE}not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "no payment pay_0123 for this API key",
                    "instance": "/v1/payments/pay_0123",
                }
            ]
        },
    )

    type: str = Field(default="about:blank", description="URI naming the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    service: str | None = Field(default=None, description="The dependency that is down (503)")
    errors: list[FieldError] | None = Field(default=None, description="Invalid fields (422)")


class ApiProblem(Exception):  # noqa: N818 - it is a response, not a failure
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}
        self.extensions = extensions


def not_found(detail: str) -> ApiProblem:
    """404 that reveals nothing about resources of other merchants."""
    return ApiProblem(404, detail, "not-found")


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Build the problem+json response."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        # Only the message: the rejected input stays out of the response and the logs.
        errors.append({"location": loc, "message": str(err.get("msg", "invalid"))})
    return errors


def _unavailable(request: Request, service: str, detail: str) -> JSONResponse:
    return problem_response(
        request, 503, detail, "service-unavailable", {"Retry-After": "5"}, service=service
    )


def dependency_failure(exc: BaseException) -> ServiceUnavailableError | None:
    """Map a client library's connection error to the dependency it names, if it is one."""
    import redis.exceptions
    import sqlalchemy.exc

    if isinstance(exc, ServiceUnavailableError):
        return exc
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return ServiceUnavailableError("Redis", "the configured redis.url", type(exc).__name__)
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return ServiceUnavailableError("MySQL replica", "mysql.replica_url", type(exc).__name__)
    try:
        from aiokafka.errors import KafkaError
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        return None
    if isinstance(exc, KafkaError):
        return ServiceUnavailableError("Kafka", "kafka.bootstrap_servers", type(exc).__name__)
    return None


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through the problem document."""

    async def api_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(
            request, exc.status, exc.detail, exc.slug, exc.headers, **exc.extensions
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code)
        return problem_response(
            request, exc.status_code, str(exc.detail), slug, dict(exc.headers or {})
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _field_errors(exc)
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:3])
        return problem_response(
            request, 422, f"invalid request: {summary}", "validation-error", errors=errors
        )

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceUnavailableError)
        return _unavailable(request, exc.service, str(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        mapped = dependency_failure(exc)
        if mapped is not None:
            log.warning("dependency down on %s: %s", request.url.path, mapped)
            return _unavailable(request, mapped.service, str(mapped))
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(request, 500, "internal error; see the server log", "internal")

    async def dependency_down(request: Request, exc: Exception) -> JSONResponse:
        mapped = dependency_failure(exc)
        if mapped is None:  # pragma: no cover - only registered for the mapped classes
            return await unexpected(request, exc)
        log.warning("dependency down on %s: %s", request.url.path, mapped)
        return _unavailable(request, mapped.service, str(mapped))

    # Registered per class so that they are answered inside the app like any other error;
    # the catch-all Exception handler runs outermost and makes uvicorn drop the connection.
    import redis.exceptions
    import sqlalchemy.exc
    from aiokafka.errors import KafkaError

    for cls in (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        KafkaError,
    ):
        app.add_exception_handler(cls, dependency_down)
    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ServiceUnavailableError, unavailable)
    app.add_exception_handler(Exception, unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem documents for ``statuses``."""
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid credentials",
        403: "The key lacks the scope this endpoint needs",
        404: "Not found, or not visible to this key (existence is never revealed)",
        406: "Unsupported Accept type",
        409: "Idempotency-Key reused with a different body, or still in progress",
        422: "Invalid request (fields listed in `errors`)",
        429: "Rate limit exceeded; retry after `Retry-After` seconds",
        503: "A dependency is down; `service` names it",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
