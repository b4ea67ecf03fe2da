"""Pure ASGI middleware in front of every route: the body-size limit, authentication, the
schema gate, HEAD served as GET, and a limit on requests in progress.

Authentication runs before routing, so without a key even an unknown `/api/v1/...` path is a
401, and a route cannot forget to require a key.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from school_payments.adapters.asgi import header
from school_payments.adapters.web.errors import PayloadTooLargeError, UnauthenticatedError
from school_payments.adapters.web.problems import problem_response
from school_payments.application.authentication import Authenticator
from school_payments.application.caller import ANONYMOUS_OPERATOR, Caller
from school_payments.application.errors import DatabaseUnavailableError, SchemaNotReadyError
from school_payments.application.ports.limits import SchemaProbe

MAX_BODY_BYTES = 64 * 1024
API_PREFIX = "/api/v1"


class _BodyTooLargeError(Exception):
    pass


def _too_large(max_bytes: int) -> Response:
    return problem_response(
        PayloadTooLargeError(
            f"the request body is over {max_bytes // 1024} KiB; send less (bodies are small JSON)"
        )
    )


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length or while they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)  # no body to limit
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _too_large(self.max_bytes)(scope, receive, send)


class AuthenticationMiddleware:
    """Resolves `Authorization: Bearer <key>` for every /api/v1 request, or answers 401."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator | None) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        caller: Caller | None
        if self.authenticator is None:
            caller = ANONYMOUS_OPERATOR
        else:
            try:
                caller = await self._authenticate(header(scope, b"authorization"))
            except DatabaseUnavailableError as error:
                await problem_response(error)(scope, receive, send)
                return
        if caller is None:
            await _unauthenticated()(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["caller"] = caller
        await self.app(scope, receive, send)

    async def _authenticate(self, authorization: bytes | None) -> Caller | None:
        assert self.authenticator is not None
        if authorization is None:
            return None
        scheme, _, key = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return await self.authenticator.authenticate(key.strip())


def _unauthenticated() -> Response:
    return problem_response(UnauthenticatedError())


class HeadAsGetMiddleware:
    """Answers HEAD wherever GET is answered: the GET response's status and headers, no body.

    The scope is changed in place, so routing, authentication and the rest see a GET; the
    observability middleware has already noted the method the client sent. The server (uvicorn)
    still knows the request was a HEAD and sends no body after a Content-Length.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        scope["method"] = "GET"

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, without_body)


class SchemaGateMiddleware:
    """Answers every /api/v1 request with 503 `schema_not_ready` while the database's schema is
    older than the code (migrations not applied): a clear instruction instead of a 500 from a
    missing table. Once the schema is seen up to date this costs nothing."""

    def __init__(self, app: ASGIApp, probe: SchemaProbe) -> None:
        self.app = app
        self.probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            try:
                state = await self.probe.state()
            except DatabaseUnavailableError as error:
                await problem_response(error)(scope, receive, send)
                return
            if state == "behind":
                await problem_response(SchemaNotReadyError())(scope, receive, send)
                return
        await self.app(scope, receive, send)
