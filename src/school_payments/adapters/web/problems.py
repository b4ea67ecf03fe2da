"""The one table from error types to HTTP status, problem `code` and title, and its handlers.

Routes, middlewares, validation and the last-resort 500 all answer through `problem_response`,
so an error type has exactly one status and code wherever it is raised. A test fails when a
domain, application or web error has no row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from school_payments.adapters.representation.json import dumps
from school_payments.adapters.web.errors import (
    BodyValidationError,
    HttpRequestError,
    MalformedJsonError,
    MethodNotAllowedError,
    NotAcceptableError,
    PayloadTooLargeError,
    RouteNotFoundError,
    UnauthenticatedError,
    UnhandledError,
    UnsupportedMediaTypeError,
    pydantic_errors,
)
from school_payments.application.errors import (
    DatabaseUnavailableError,
    ForbiddenError,
    IdempotencyClaimLostError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    QueryTimeoutError,
    SchemaNotReadyError,
    TenantBusyError,
)
from school_payments.domain.errors import (
    BusinessRuleError,
    CreditExceedsRemainingError,
    CurrencyMismatchError,
    DuplicateExternalIdError,
    InsufficientCreditError,
    InvalidValueError,
    InvoiceHasPaymentsError,
    InvoiceNotCreditableError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    NotFoundError,
    PaymentExceedsRemainingError,
    RefundExceedsPaymentError,
    SchoolHasStudentsError,
    StudentArchivedError,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE = "tag:school-payments,2026:problem:{code}"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    title: str


_CONFLICT = "Conflict"

PROBLEMS: dict[type[Exception], Problem] = {
    MalformedJsonError: Problem(400, "malformed_json", "Bad Request"),
    UnauthenticatedError: Problem(401, "unauthenticated", "Unauthorized"),
    ForbiddenError: Problem(403, "forbidden", "Forbidden"),
    NotFoundError: Problem(404, "not_found", "Not Found"),
    RouteNotFoundError: Problem(404, "not_found", "Not Found"),
    MethodNotAllowedError: Problem(405, "method_not_allowed", "Method Not Allowed"),
    NotAcceptableError: Problem(406, "not_acceptable", "Not Acceptable"),
    PaymentExceedsRemainingError: Problem(409, "payment_exceeds_remaining", _CONFLICT),
    InvoiceNotPayableError: Problem(409, "invoice_not_payable", _CONFLICT),
    CurrencyMismatchError: Problem(409, "currency_mismatch", _CONFLICT),
    InvoiceNotEditableError: Problem(409, "invoice_not_editable", _CONFLICT),
    InvoiceHasPaymentsError: Problem(409, "invoice_has_payments", _CONFLICT),
    StudentArchivedError: Problem(409, "student_archived", _CONFLICT),
    SchoolHasStudentsError: Problem(409, "school_has_students", _CONFLICT),
    DuplicateExternalIdError: Problem(409, "duplicate_external_id", _CONFLICT),
    RefundExceedsPaymentError: Problem(409, "refund_exceeds_payment", _CONFLICT),
    InvoiceNotCreditableError: Problem(409, "invoice_not_creditable", _CONFLICT),
    CreditExceedsRemainingError: Problem(409, "credit_exceeds_remaining", _CONFLICT),
    InsufficientCreditError: Problem(409, "insufficient_credit", _CONFLICT),
    IdempotencyKeyInUseError: Problem(409, "idempotency_key_in_use", _CONFLICT),
    IdempotencyClaimLostError: Problem(409, "idempotency_key_in_use", _CONFLICT),
    PayloadTooLargeError: Problem(413, "payload_too_large", "Content Too Large"),
    UnsupportedMediaTypeError: Problem(415, "unsupported_media_type", "Unsupported Media Type"),
    InvalidValueError: Problem(422, "validation_error", "Unprocessable Content"),
    BodyValidationError: Problem(422, "validation_error", "Unprocessable Content"),
    IdempotencyKeyReusedError: Problem(422, "idempotency_key_reused", "Unprocessable Content"),
    TenantBusyError: Problem(429, "rate_limited", "Too Many Requests"),
    UnhandledError: Problem(500, "internal_error", "Internal Server Error"),
    DatabaseUnavailableError: Problem(503, "database_unavailable", "Service Unavailable"),
    QueryTimeoutError: Problem(503, "query_timeout", "Service Unavailable"),
    SchemaNotReadyError: Problem(503, "schema_not_ready", "Service Unavailable"),
}
"""Error type → problem. A subclass without a row of its own takes its nearest listed base."""

HANDLED: tuple[type[Exception], ...] = tuple(PROBLEMS)

_HEADERS: dict[type[Exception], Mapping[str, str]] = {
    UnauthenticatedError: {"WWW-Authenticate": "Bearer"},
    DatabaseUnavailableError: {"Retry-After": "1"},
    QueryTimeoutError: {"Retry-After": "2"},
}

# Where a field checked by the rules (rather than by the body's schema) came from, so that every
# `loc` reads like pydantic's: ["body", "paid_at"], ["query", "as_of"], ["header", …].
_QUERY_FIELDS = frozenset(
    {"as_of", "cursor", "limit", "status", "student_id", "lines_cursor", "lines_limit"}
)
_HEADER_FIELDS = frozenset({"Idempotency-Key"})


def _location(field: str) -> str:
    if field in _QUERY_FIELDS:
        return "query"
    return "header" if field in _HEADER_FIELDS else "body"


def row_for(error_type: type[BaseException]) -> tuple[type[Exception], Problem] | None:
    """The table's row for an error type (its own, or its nearest listed base's)."""
    for cls in error_type.__mro__:
        if cls in PROBLEMS:
            return cls, PROBLEMS[cls]
    return None


def _errors(error: Exception, detail: str) -> list[dict[str, Any]] | None:
    if isinstance(error, BodyValidationError):
        return error.errors
    if isinstance(error, InvalidValueError):
        return [{"loc": [_location(error.field), error.field], "msg": detail}]
    return None


def problem_response(
    error: Exception,
    headers: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """The RFC 9457 problem document for an error; one without a row is an unhandled 500.

    `extra` adds members to the document (e.g. /readyz's readiness fields).
    """
    found = row_for(type(error))
    if found is None:
        error = UnhandledError()
        found = UnhandledError, PROBLEMS[UnhandledError]
    row_type, problem = found
    if isinstance(error, TenantBusyError):
        headers = {"Retry-After": str(error.retry_after_seconds), **(headers or {})}
    detail = getattr(error, "detail", None) or str(error) or problem.title
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE.format(code=problem.code),
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
        "code": problem.code,
    }
    errors = _errors(error, detail)
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    if isinstance(error, BusinessRuleError):
        log.info("request refused", extra={"code": problem.code, "detail": detail})
    return Response(
        dumps(body),
        status_code=problem.status,
        headers={**_HEADERS.get(row_type, {}), **(headers or {})},
        media_type=PROBLEM_MEDIA_TYPE,
    )


def unhandled_error_response() -> Response:
    """The 500 answered for an exception nothing handled (logged by the observability layer)."""
    return problem_response(UnhandledError())


_HTTP_ERRORS: dict[int, type[HttpRequestError]] = {
    404: RouteNotFoundError,
    405: MethodNotAllowedError,
    406: NotAcceptableError,
}

_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's own 405 names only the first
    route's, though RFC 9110 asks for all of them (`/schools` has a GET route and a POST one)."""
    routes = request.app.router.routes
    allowed = {
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    }
    if "GET" in allowed:
        allowed.add("HEAD")  # HeadAsGetMiddleware answers HEAD wherever GET is
    return ", ".join(method for method in _METHODS if method in allowed)


def install(app: FastAPI) -> None:
    """Answers every error a route raises through the table."""

    async def listed_error(_request: Request, error: Exception) -> Response:
        return problem_response(error)

    async def request_validation(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return problem_response(BodyValidationError(pydantic_errors(error.errors())))

    async def framework_error(request: Request, error: Exception) -> Response:
        # Routing's own refusals (no route, wrong method) arrive as Starlette's HTTPException.
        assert isinstance(error, StarletteHTTPException)
        error_type = _HTTP_ERRORS.get(error.status_code, UnhandledError)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(error_type(), headers)

    for error_type in HANDLED:
        app.add_exception_handler(error_type, listed_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, framework_error)
