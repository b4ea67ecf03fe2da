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
    422: "A field is missing, of the wrong type or out of range",
    503: "The database is unavailable",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Response documentation for the given problem statuses (401 and 503 are always possible)."""
    return {
        status: {
            "model": ProblemOut,
            "description": _PROBLEM_TEXT[status],
            "content": {"application/problem+json": {}},
        }
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
