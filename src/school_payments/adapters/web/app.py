"""The FastAPI application, assembled from the services the composition root hands it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from school_payments.adapters.observability.middleware import ObservabilityMiddleware
from school_payments.adapters.web import problems
from school_payments.adapters.web.middleware import (
    API_PREFIX,
    MAX_BODY_BYTES,
    AuthenticationMiddleware,
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    SchemaGateMiddleware,
)
from school_payments.adapters.web.routers import (
    api_keys,
    credit,
    events,
    invoices,
    operations,
    payments,
    refunds,
    schools,
    statements,
    students,
    webhooks,
)
from school_payments.adapters.web.routers._docs import drop_framework_validation_errors
from school_payments.adapters.web.services import ApiServices

DESCRIPTION = """
Schools, students, invoices and immutable payments in; exact account statements out.

Money is an integer in the currency's minor unit. Every `/api/v1` request needs
`Authorization: Bearer <key>`. Errors are `application/problem+json` with a stable `code`.
"""


def _openapi_with_bearer_auth(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, declaring the bearer key that every /api/v1 operation requires.

    Authentication is middleware (so that no route can forget it), which FastAPI cannot see;
    the requirement is added here instead of through a per-route dependency, which would cost
    time on every request.
    """
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The operator's key (ADMIN_API_KEY) or a school's API key",
            }
        }
        for path, operations in schema["paths"].items():
            if path.startswith(API_PREFIX):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        drop_framework_validation_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def create_api(
    services: ApiServices,
    *,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    access_log: bool = True,
    metrics_enabled: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with contextlib.suppress(Exception):  # unreachable now: /readyz and requests say so
            await services.schema.state()  # logs a warning at once when migrations are missing
        tasks = [asyncio.create_task(job()) for job in background]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if on_shutdown is not None:
            await on_shutdown()

    app = FastAPI(
        title="School Payments API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # No redirect from /path/ to /path: Starlette builds its Location from the Host header,
        # which the client chooses. A path with a trailing slash is simply not found (404).
        redirect_slashes=False,
    )
    app.state.services = services
    app.openapi = lambda: _openapi_with_bearer_auth(app)  # type: ignore[method-assign]
    problems.install(app)
    # Routes are matched in order, one pattern after another: the statements, most of the
    # traffic, come first (a cached statement spent 18 % of its time reaching its route).
    for module in (
        statements,
        schools,
        students,
        invoices,
        payments,
        refunds,
        credit,
        api_keys,
        events,
        webhooks,
        operations,
    ):
        app.include_router(module.router)
    # Added innermost first: observability wraps everything, including 401s and 413s.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(AuthenticationMiddleware, authenticator=services.authenticator)
    app.add_middleware(SchemaGateMiddleware, probe=services.schema)  # before keys are looked up
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(
        ObservabilityMiddleware,
        unhandled_error=problems.unhandled_error_response,
        access_log=access_log,
        metrics_enabled=metrics_enabled,
    )
    return app
