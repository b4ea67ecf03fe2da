from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from school_payments.adapters.observability import metrics
from school_payments.adapters.web.requests import AsOfDep, CallerDep, PageDep, ServicesDep, path_id
from school_payments.adapters.web.routers._docs import problems
from school_payments.adapters.web.schemas import SchoolStatementOut, StudentStatementOut
from school_payments.application.read_models import RenderedStatement

router = APIRouter(prefix="/api/v1", tags=["statements"])

_CACHE_HEADER = {
    "X-Cache": {
        "description": "HIT: served from the cache; MISS: the cache had nothing current;"
        " BYPASS: the cache was not used",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS"]},
    }
}


def _served(statement: RenderedStatement) -> Response:
    metrics.STATEMENT_CACHE.labels(statement.cache).inc()
    return Response(
        statement.body, media_type="application/json", headers={"X-Cache": statement.cache}
    )


@router.get(
    "/students/{student_id}/statement",
    response_model=StudentStatementOut,
    responses={**problems(404, 422), 200: {"headers": _CACHE_HEADER}},
)
async def student_statement(
    student_id: str, caller: CallerDep, services: ServicesDep, as_of: AsOfDep
) -> Response:
    statement = await services.queries.statements.student(
        caller, path_id(student_id, "student"), as_of=as_of
    )
    return _served(statement)


@router.get(
    "/schools/{school_id}/statement",
    response_model=SchoolStatementOut,
    responses={**problems(404, 422), 200: {"headers": _CACHE_HEADER}},
    description="Totals cover every student of the school, whatever page of students is returned.",
)
async def school_statement(
    school_id: str, caller: CallerDep, services: ServicesDep, as_of: AsOfDep, page: PageDep
) -> Response:
    statement = await services.queries.statements.school(
        caller, path_id(school_id, "school"), as_of=as_of, page=page
    )
    return _served(statement)
