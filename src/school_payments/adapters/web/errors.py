"""Refusals that only the HTTP adapter can make: about the request itself, not the business.

Like the domain's and the application's errors, each has its row in the one problem table
(`problems.PROBLEMS`), which gives its status, `code` and title.
"""

from __future__ import annotations

from typing import Any


class HttpRequestError(Exception):
    """A refusal of the request as HTTP; `detail` says what to change."""

    detail = "the request cannot be served"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail


class UnauthenticatedError(HttpRequestError):
    detail = "a valid API key is required: Authorization: Bearer <key>"


class MalformedJsonError(HttpRequestError):
    detail = "the request body is not valid JSON"


class PayloadTooLargeError(HttpRequestError):
    pass


class UnsupportedMediaTypeError(HttpRequestError):
    detail = (
        "the request body must be JSON: send Content-Type: application/json (or a +json type),"
        " or no Content-Type at all"
    )


class RouteNotFoundError(HttpRequestError):
    detail = "no such resource"


class MethodNotAllowedError(HttpRequestError):
    detail = "this method is not allowed on this resource"


class NotAcceptableError(HttpRequestError):
    detail = "this resource has no representation of a media type that Accept allows"


class BodyValidationError(HttpRequestError):
    """Fields missing, of the wrong type or out of range; `errors` says which and where."""

    detail = "the request is not valid"

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class UnhandledError(HttpRequestError):
    """Stands for any exception nothing else handled: a bug, logged with the request's ids."""

    detail = "an unexpected error occurred; it has been logged with this request's id"


def pydantic_errors(raw: Any, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the contract's `{"loc": [...], "msg": "..."}` list (no echoed input)."""
    return [
        {
            "loc": [*prefix, *(str(p) for p in e["loc"])],
            "msg": e["msg"].removeprefix("Value error, "),
        }
        for e in raw
    ]
