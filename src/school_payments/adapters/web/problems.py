"""The one table from error types to HTTP status and problem `code`, and the handlers using it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from school_payments.adapters.web.requests import BodyValidationError, MalformedJsonError
from school_payments.adapters.web.responses import problem
from school_payments.application.errors import (
    DatabaseUnavailableError,
    ForbiddenError,
    IdempotencyClaimLostError,
)
from school_payments.domain.errors import (
    BusinessRuleError,
    CurrencyMismatchError,
    DomainError,
    DuplicateExternalIdError,
    InvalidValueError,
    InvoiceHasPaymentsError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    NotFoundError,
    PaymentExceedsRemainingError,
    SchoolHasStudentsError,
    StudentArchivedError,
)

log = logging.getLogger(__name__)

# error type -> (status, code, title). Subclasses not listed take their nearest listed base.
PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    ForbiddenError: (403, "forbidden", "Forbidden"),
    NotFoundError: (404, "not_found", "Not Found"),
    InvalidValueError: (422, "validation_error", "Unprocessable Content"),
    PaymentExceedsRemainingError: (409, "payment_exceeds_remaining", "Conflict"),
    InvoiceNotPayableError: (409, "invoice_not_payable", "Conflict"),
    CurrencyMismatchError: (409, "currency_mismatch", "Conflict"),
    InvoiceNotEditableError: (409, "invoice_not_editable", "Conflict"),
    InvoiceHasPaymentsError: (409, "invoice_has_payments", "Conflict"),
    StudentArchivedError: (409, "student_archived", "Conflict"),
    SchoolHasStudentsError: (409, "school_has_students", "Conflict"),
    DuplicateExternalIdError: (409, "duplicate_external_id", "Conflict"),
    IdempotencyClaimLostError: (409, "idempotency_key_in_use", "Conflict"),
    DatabaseUnavailableError: (503, "database_unavailable", "Service Unavailable"),
}


# Where a field checked by the rules (rather than by the body's schema) came from, so that every
# `loc` reads like pydantic's: ["body", "paid_at"], ["query", "as_of"], ["header", …].
_QUERY_FIELDS = frozenset({"as_of", "cursor", "limit", "status", "student_id"})
_HEADER_FIELDS = frozenset({"Idempotency-Key"})


def _location(field: str) -> str:
    if field in _QUERY_FIELDS:
        return "query"
    return "header" if field in _HEADER_FIELDS else "body"


def classify(error: Exception) -> tuple[int, str, str] | None:
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def error_response(error: Exception) -> Response:
    """The problem response for a known error type (raises it again if it is not one)."""
    found = classify(error)
    if found is None:
        raise error
    status, code, title = found
    detail = getattr(error, "detail", None) or str(error) or title
    errors = None
    if isinstance(error, InvalidValueError):
        errors = [{"loc": [_location(error.field), error.field], "msg": detail}]
    headers = {"Retry-After": "1"} if status == 503 else None
    if isinstance(error, BusinessRuleError):
        log.info("request refused", extra={"code": code, "detail": detail})
    return problem(status, code, title, detail, errors=errors, headers=headers)


def validation_problem(
    errors: list[dict[str, Any]], detail: str = "the request is not valid"
) -> Response:
    return problem(422, "validation_error", "Unprocessable Content", detail, errors=errors)


def pydantic_errors(raw: Any, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the contract's `{"loc": [...], "msg": "..."}` list (no echoed input)."""
    return [
        {
            "loc": [*prefix, *(str(p) for p in e["loc"])],
            "msg": e["msg"].removeprefix("Value error, "),
        }
        for e in raw
    ]


_HTTP_CODES = {
    404: ("not_found", "Not Found", "no such resource"),
    405: (
        "method_not_allowed",
        "Method Not Allowed",
        "this method is not allowed on this resource",
    ),
    406: (
        "not_acceptable",
        "Not Acceptable",
        "this resource has no representation of a media type that Accept allows",
    ),
}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's own 405 names only the first
    route's, though RFC 9110 asks for all of them (`/schools` has a GET route and a POST one)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install(app: FastAPI) -> None:
    async def domain_error(_request: Request, error: Exception) -> Response:
        return error_response(error)

    async def request_validation(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return validation_problem(pydantic_errors(error.errors()))

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code, title, detail = _HTTP_CODES.get(
            error.status_code, ("http_error", "Error", str(error.detail))
        )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem(error.status_code, code, title, detail, headers=headers or None)

    async def malformed_json(_request: Request, error: Exception) -> Response:
        assert isinstance(error, MalformedJsonError)
        return problem(400, "malformed_json", "Bad Request", error.detail)

    async def invalid_body(_request: Request, error: Exception) -> Response:
        assert isinstance(error, BodyValidationError)
        return validation_problem(error.errors, "the request body is not valid")

    for error_type in (
        DomainError,
        ForbiddenError,
        DatabaseUnavailableError,
        IdempotencyClaimLostError,
    ):
        app.add_exception_handler(error_type, domain_error)
    app.add_exception_handler(MalformedJsonError, malformed_json)
    app.add_exception_handler(BodyValidationError, invalid_body)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
