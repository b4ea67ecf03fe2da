"""Health, readiness and metrics: no API key needed, for load balancers and Prometheus."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from school_payments.adapters.observability import metrics
from school_payments.adapters.web.problems import problem_response
from school_payments.adapters.web.requests import ServicesDep
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import problem_content
from school_payments.adapters.web.schemas import HealthOut, ReadinessOut
from school_payments.application.errors import DatabaseUnavailableError, SchemaNotReadyError
from school_payments.application.ports.cache import CacheHealth

router = APIRouter(tags=["operations"])

PROBE_TIMEOUT_SECONDS = 1.0


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> Response:
    """The process is up (says nothing about its dependencies)."""
    return JsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={
        503: {
            "description": "The database is unreachable (`database_unavailable`), or its schema"
            " is older than the code (`schema_not_ready`: run `school-payments migrate`)",
            "content": problem_content(),
        }
    },
)
async def readyz(services: ServicesDep) -> Response:
    """Ready while the database answers on a connection of its own (not the requests' pool) and
    its schema is up to date; a cache outage degrades the service but keeps it ready."""
    try:
        database_ok = await asyncio.wait_for(services.database.ping(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        database_ok = False
    schema: str = "unknown"
    if database_ok:
        try:
            schema = await asyncio.wait_for(services.schema.state(), PROBE_TIMEOUT_SECONDS)
        except (TimeoutError, DatabaseUnavailableError):
            database_ok = False
    try:
        cache = await asyncio.wait_for(services.cache.health(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        cache = CacheHealth("unavailable", "OPEN")
    fields = {
        "database": "ok" if database_ok else "unavailable",
        "cache": cache.state,
        "circuit_breaker": cache.circuit_breaker,
        "schema": schema,
    }
    if not database_ok:
        error: Exception = DatabaseUnavailableError("the database is unreachable")
        return problem_response(error, extra=fields)
    if schema == "behind":
        return problem_response(SchemaNotReadyError(), extra=fields)
    return JsonResponse(fields)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus_metrics() -> Response:
    """Prometheus text format: requests and latency by route, cache outcomes, breaker, payments."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
