"""Checks that run before a request body is read: its size, then who is sending it.

FastAPI reads and decodes a route's JSON body before it resolves any dependency, so without
this an anonymous caller could make the API buffer and parse an arbitrarily large body, and
malformed JSON sent without credentials got a 422 that describes the route instead of a 401.
This pure ASGI middleware, for requests that carry a body:

1. answers **413** when ``Content-Length`` exceeds the limit, or when a body sent without a
   length grows past it (it is buffered up to the limit, then replayed to the app);
2. answers **401** unless the credentials verify, before a byte of the body is read. The
   verified principal is handed to :func:`api.dependencies.authenticate`, which then skips
   its own lookup, so a request is authenticated once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from api.auth import verify_credentials
from api.problems import problem_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Methods whose requests carry a body.
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Where the state key handing the verified principal to the dependency lives.
VERIFIED = "verified_principal"


class BodyGuard:
    """Size limit and authentication before the body of ``/v1/`` requests is read."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WITH_BODY
            or not scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(request, scope, receive, send)
            return
        try:
            principal = await self._verify(request)
        except Exception:
            # A store is down: let the route's own authentication answer with its 503.
            await self.app(scope, receive, send)
            return
        if principal is None:
            response = problem_response(
                request,
                401,
                "send a valid API key in X-API-Key or Authorization: Bearer",
                "unauthorized",
                {"WWW-Authenticate": 'Bearer realm="paystream"'},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[VERIFIED] = principal
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No length (chunked): buffer up to the limit, then hand the app the same messages.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await self._too_large(request, scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _verify(self, request: Request) -> Any:
        secret = request.headers.get("x-api-key")
        if not secret:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            secret = value.strip() if scheme.lower() == "bearer" else ""
        if not secret:
            return None
        resources = request.app.state.resources
        return await verify_credentials(resources.tokens, resources.keys, secret)

    async def _too_large(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = problem_response(
            request,
            413,
            f"request bodies are limited to {self.max_body_bytes:,} bytes",
            "payload-too-large",
            {"Connection": "close"},
        )
        await response(scope, receive, send)
