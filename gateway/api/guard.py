"""The gateway refuses before it reads: an ASGI middleware in front of every route.

    body declared larger than the endpoint's limit    413, nothing read
    a body without a valid bearer token               401, nothing read
    a token over its rate                             429 with Retry-After
    a body that grows past the limit while streaming  413, reading stops there

FastAPI reads and parses a body before it runs the dependencies that authenticate, so an
unauthenticated caller could make it buffer any amount; here the body is neither read nor
buffered before the caller is known, and never beyond the endpoint's limit.
"""

from __future__ import annotations

import math
import re

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.clock import Clock
from gateway.api.problems import problem_response
from gateway.context import Gateway
from gateway.core.config import GatewaySettings
from gateway.core.ratelimit import RateLimiter
from gateway.core.security import digest
from gateway.tokens import authenticate

_INGEST = re.compile(r"^/v1/devices/([^/]+)/data$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: GatewaySettings, clock: Clock) -> None:
        self._app = app
        self._settings = settings
        self._clock = clock
        self._limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        ingest = _INGEST.match(scope["path"])
        limit = self._settings.max_ingest_bytes if ingest else self._settings.max_body_bytes
        refusal = self._refusal(scope, headers, limit, ingest)
        if refusal is not None:
            status, detail, extra = refusal
            response = problem_response(Request(scope), status, detail, headers=extra)
            await response(scope, receive, send)
            return
        await self._app(scope, _limited(receive, limit), send)

    def _refusal(self, scope: Scope, headers: Headers, limit: int,
                 ingest: re.Match[str] | None) -> tuple[int, str, dict[str, str]] | None:
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return 413, f"The body exceeds {limit} bytes.", {}
        token = _bearer(headers)
        if scope["method"] in _BODY_METHODS and not self._authentic(scope, token, ingest):
            return 401, "A valid bearer token is required.", _UNAUTHENTICATED
        if token is not None:
            wait = self._limiter.take(digest(token), self._clock.monotonic())
            if wait > 0:
                return 429, "Too many requests for this token; retry later.", {
                    "Retry-After": str(max(1, math.ceil(wait)))}
        return None

    @staticmethod
    def _authentic(scope: Scope, token: str | None, ingest: re.Match[str] | None) -> bool:
        if token is None:
            return False
        gateway: Gateway = scope["app"].state.gateway
        if ingest is not None:
            return gateway.devices.authenticate(ingest.group(1), token) is not None
        return authenticate(gateway.registry, token) is not None


def _bearer(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that refuses (413) once the body has grown past `limit` bytes."""
    size = 0

    async def receive_limited() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise HTTPException(413, f"The body exceeds {limit} bytes.")
        return message

    return receive_limited
