"""The outermost ASGI middleware: request and trace ids, the request log line, metrics, and the
last line of defence that turns an unhandled exception into a logged problem+json 500.

Pure ASGI (not BaseHTTPMiddleware): no extra task per request, and contextvars set here are
seen by the route and everything it calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from school_payments.adapters.asgi import header
from school_payments.adapters.observability import context, metrics
from school_payments.adapters.observability.logging import request_line

log = logging.getLogger("school_payments.http")

CLIENT_CLOSED_REQUEST = 499
"""The status logged and counted for a request whose client went away before it was answered
(nginx's convention): the client's doing, not a server error, and nothing is sent back."""


def _text_header(scope: Scope, name: bytes) -> str | None:
    value = header(scope, name)
    return None if value is None else value.decode("latin-1")


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        unhandled_error: Callable[[], Response],
        access_log: bool = True,
        metrics_enabled: bool = True,
    ) -> None:
        """`unhandled_error` is the 500 to answer with (the web adapter's problem table's)."""
        self.app = app
        self.unhandled_error = unhandled_error
        self.access_log = access_log
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]  # as the client sent it (HEAD is served as GET further in)
        request_id = context.choose_request_id(_text_header(scope, b"x-request-id"))
        trace_id = context.choose_trace_id(_text_header(scope, b"traceparent"))
        request_token = context.request_id.set(request_id)
        trace_token = context.trace_id.set(trace_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST  # no one left to answer, and no traceback to keep
        except Exception:
            log.exception("unhandled error", extra={"method": method, "path": scope["path"]})
            status = 500
            if not response_started:
                await self.unhandled_error()(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if self.access_log:
                self._log(scope, method, status, elapsed)
            if self.metrics_enabled:
                metrics.observe_request(method, _route(scope), status, elapsed)
            context.request_id.reset(request_token)
            context.trace_id.reset(trace_token)

    @staticmethod
    def _log(scope: Scope, method: str, status: int, elapsed: float) -> None:
        level = logging.ERROR if status >= 500 else logging.INFO
        if not log.isEnabledFor(level):
            return
        extra: dict[str, Any] = {
            "method": method,
            "path": scope["path"],
            "route": _route(scope),
            "status": status,
            "latency_ms": round(elapsed * 1000, 3),
        }
        request_line(log, level, "request", extra)
