"""FastAPI dependencies: resources, authentication, rate limiting and scope checks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, verify_credentials
from api.bodyguard import VERIFIED
from api.problems import ApiProblem, not_found
from api.resources import Resources

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `paystream api keys create` (psk_...).",
)
bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <API key or JWT>` (JWT: HS256 with api.jwt_secret).",
)


def get_resources(request: Request) -> Resources:
    """The process's resources (created by :func:`api.app.create_app`)."""
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, "unauthorized", {"WWW-Authenticate": 'Bearer realm="paystream"'})


async def identify(
    request: Request,
    resources: ResourcesDep,
    api_key: Annotated[str | None, Depends(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, authenticated but not yet charged (the route charges it: :func:`charge`).

    Raises:
        ApiProblem: 401 without valid credentials.
    """
    principal: Principal | None = getattr(request.state, VERIFIED, None)
    if principal is None:
        # Not already verified by the body guard (a request without a body).
        secret = api_key or (credentials.credentials if credentials else None)
        if not secret:
            raise _unauthorized("send an API key in X-API-Key or Authorization: Bearer")
        principal = await verify_credentials(resources.tokens, resources.keys, secret)
    if principal is None:
        raise _unauthorized("invalid or expired credentials")
    request.state.principal = principal
    return principal


async def charge(
    resources: Resources, principal: Principal, response: Response, reads: Sequence[str] = ()
) -> list[Any]:
    """Charge the caller one token and GET ``reads`` from Redis, in one round trip.

    Raises:
        ApiProblem: 429 once the key's bucket is empty.
    """
    verdict, values = await resources.limiter.take_and_get(
        principal.key_id, time.time(), principal.rate_per_s, principal.burst, reads
    )
    if not verdict.allowed:
        resources.metrics.rate_limited.inc()
        raise ApiProblem(
            429,
            f"rate limit exceeded for key {principal.key_id}; retry in {verdict.retry_after_s} s",
            "rate-limited",
            {"Retry-After": str(verdict.retry_after_s), "RateLimit-Remaining": "0"},
        )
    response.headers["RateLimit-Remaining"] = str(verdict.remaining)
    return values


async def authenticate(
    response: Response, resources: ResourcesDep, principal: Annotated[Principal, Depends(identify)]
) -> Principal:
    """The caller, authenticated and charged one token of its rate limit.

    Raises:
        ApiProblem: 401 without valid credentials, 429 once the key's bucket is empty.
    """
    await charge(resources, principal, response)
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def merchant_scope(principal: PrincipalDep) -> Principal:
    """A caller scoped to a merchant (analyst keys see no merchant's data)."""
    return _merchant(principal)


def _merchant(principal: Principal) -> Principal:
    if principal.role != "merchant" or principal.merchant_id is None:
        raise ApiProblem(403, "this endpoint needs a merchant-scoped key", "forbidden")
    return principal


def analyst_scope(principal: PrincipalDep) -> Principal:
    """A caller with the analyst role (dashboard data)."""
    if principal.role != "analyst":
        raise ApiProblem(403, "this endpoint needs an analyst key", "forbidden")
    return principal


def merchant_identified(principal: Annotated[Principal, Depends(identify)]) -> Principal:
    """A merchant-scoped caller not yet charged: the route calls :func:`charge` itself, so
    the rate limit and its reads share one Redis round trip."""
    return _merchant(principal)


MerchantDep = Annotated[Principal, Depends(merchant_scope)]
MerchantUnchargedDep = Annotated[Principal, Depends(merchant_identified)]
AnalystDep = Annotated[Principal, Depends(analyst_scope)]


def check_customer_visible(resources: Resources, principal: Principal, customer_id: str) -> None:
    """404 unless the caller may see ``customer_id``.

    A customer-scoped key sees only its customer; a merchant key sees the customers who have
    paid that merchant. Both misses are the same 404, so existence is never revealed.
    """
    assert principal.merchant_id is not None
    if principal.customer_id is not None:
        if principal.customer_id != customer_id:
            raise not_found(f"no customer {customer_id} for this API key")
        return
    if not resources.customer_paid_merchant(customer_id, principal.merchant_id):
        raise not_found(f"no customer {customer_id} for this API key")
