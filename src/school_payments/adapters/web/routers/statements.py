"""Account statements: JSON, PDF or CSV as `Accept` asks, with ETag and If-None-Match."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from school_payments.adapters.observability import metrics
from school_payments.adapters.representation.cursors import decode_lines_cursor
from school_payments.adapters.representation.statements import (
    SchoolStatementOut,
    StudentStatementOut,
)
from school_payments.adapters.web.documents.negotiation import JSON, Representation, negotiate
from school_payments.adapters.web.documents.serving import statement_response
from school_payments.adapters.web.requests import AsOfDep, CallerDep, PageDep, ServicesDep, path_id
from school_payments.adapters.web.routers._docs import problem_content, problems
from school_payments.adapters.web.services import ApiServices
from school_payments.application.caller import Caller
from school_payments.application.pagination import MAX_LINES, LinesRequest

router = APIRouter(prefix="/api/v1", tags=["statements"])

_HEADERS = {
    "X-Cache": {
        "description": "HIT: served from the cache; MISS: the cache had nothing current;"
        " BYPASS: the cache was not used",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS"]},
    },
    "ETag": {
        "description": "Strong validator: the snapshot_id and the representation;"
        " send it back in If-None-Match to get 304 while the statement is unchanged",
        "schema": {"type": "string"},
    },
    "Cache-Control": {"schema": {"type": "string", "enum": ["private, no-cache"]}},
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problems(404, 422, 429),
    200: {
        "headers": _HEADERS,
        "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
        "description": "The statement: JSON (the default), or PDF or CSV as `Accept` asks",
    },
    304: {"description": "If-None-Match names the current ETag: no body", "headers": _HEADERS},
    406: {
        "description": "Accept names none of application/json, application/pdf, text/csv",
        "content": problem_content(),
    },
}


def _rendering(
    services: ApiServices,
    representation: Representation,
    caller: Caller,
    owner: Literal["school", "student"],
    owner_id: UUID,
) -> AbstractAsyncContextManager[None]:
    """Drawing a PDF or CSV runs in the school's share of expensive work (a statement computed
    afresh already took its slot in the query; the JSON served as it is costs nothing more)."""
    if representation is JSON:
        return nullcontext()
    return services.expensive_work.statement(caller, owner, owner_id)


def _representation(request: Request) -> Representation:
    # In the route rather than a dependency: a bad query parameter (422) is reported first.
    chosen = negotiate(", ".join(request.headers.getlist("accept")) or None)
    if chosen is None:
        raise HTTPException(406)
    return chosen


@router.get(
    "/students/{student_id}/statement",
    response_model=StudentStatementOut,
    responses=_RESPONSES,
)
async def student_statement(
    request: Request,
    student_id: str,
    caller: CallerDep,
    services: ServicesDep,
    as_of: AsOfDep,
    lines_limit: Annotated[
        int, Query(ge=1, le=MAX_LINES, description="invoice lines per page (JSON only)")
    ] = MAX_LINES,
    lines_cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            description="`invoices_next_cursor` of the previous page (same as_of and lines_limit)",
        ),
    ] = None,
) -> Response:
    representation = _representation(request)
    after = decode_lines_cursor(lines_cursor, limit=lines_limit, as_of=as_of)
    owner_id = path_id(student_id, "student")
    # JSON lists a page of lines; the PDF and CSV carry every line, drawn from the unpaged JSON.
    lines = LinesRequest(lines_limit, after, as_of) if representation is JSON else None
    statement = await services.queries.statements.student(
        caller, owner_id, as_of=as_of, lines=lines
    )
    metrics.STATEMENT_CACHE.labels(statement.cache).inc()
    async with _rendering(services, representation, caller, "student", owner_id):
        return await statement_response(
            request, statement, representation, owner="student", owner_id=owner_id
        )


@router.get(
    "/schools/{school_id}/statement",
    response_model=SchoolStatementOut,
    responses=_RESPONSES,
    description="Totals cover every student of the school, whatever page of students is returned."
    ' The PDF and CSV show the requested page of students; `Link: rel="next"` names the next.',
)
async def school_statement(
    request: Request,
    school_id: str,
    caller: CallerDep,
    services: ServicesDep,
    as_of: AsOfDep,
    page: PageDep,
) -> Response:
    representation = _representation(request)
    owner_id = path_id(school_id, "school")
    statement = await services.queries.statements.school(caller, owner_id, as_of=as_of, page=page)
    metrics.STATEMENT_CACHE.labels(statement.cache).inc()
    async with _rendering(services, representation, caller, "school", owner_id):
        return await statement_response(
            request, statement, representation, owner="school", owner_id=owner_id
        )
