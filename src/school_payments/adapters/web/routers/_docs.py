"""OpenAPI documentation helpers: request bodies we parse ourselves, and problem responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from school_payments.adapters.web.schemas import ProblemOut

_PROBLEM_TEXT = {
    400: "The body is not valid JSON (or is empty)",
    401: "Missing, unknown or revoked API key",
    403: "This key may not perform this action",
    404: "No such resource, or not visible to this key",
    409: "A business rule refuses the request",
    413: "The request body is over 64 KiB",
    415: "The body's Content-Type is not JSON (application/json or +json)",
    422: "A field is missing, of the wrong type or out of range",
    429: "The school already runs its share of statements and documents: retry after"
    " Retry-After seconds (`rate_limited`)",
    503: "The database is unavailable (`database_unavailable`), a query ran past the statement"
    " timeout (`query_timeout`, with Retry-After) or the schema is not migrated"
    " (`schema_not_ready`)",
}


_PROBLEM_SCHEMA = ProblemOut.model_json_schema()


def problem_content() -> dict[str, Any]:
    """A problem document's media type with its schema (a `model` would say application/json)."""
    return {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Response documentation for the given problem statuses (401 and 503 are always possible).

    413 is possible on every method but GET, HEAD and OPTIONS, body or no body: the size limit
    goes by the declared Content-Length.
    """
    return {
        status: {"description": _PROBLEM_TEXT[status], "content": problem_content()}
        for status in sorted({401, 503, *statuses})
    }


def body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the route reads and validates itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def drop_framework_validation_errors(schema: dict[str, Any]) -> None:
    """Removes the 422 FastAPI documents by itself on every operation with a parameter.

    FastAPI's is an `HTTPValidationError` in application/json; ours are problem+json, declared
    through `problems(…, 422)` where a 422 can happen. A path id is a plain string (one that is
    not a UUID is a 404), so `GET /schools/{school_id}` never answers 422, whatever FastAPI says.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "application/json" in responses.get("422", {}).get("content", {}):
                del responses["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
