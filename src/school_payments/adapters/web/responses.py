"""JSON and problem+json responses, serialized with orjson (UUIDs, dates and UTC `Z` natively)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import orjson
from starlette.responses import Response

PROBLEM_TYPE = "tag:school-payments,2026:problem:{code}"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _fallback(value: Any) -> str:
    # asyncpg hands back its own uuid.UUID subclass, which orjson does not serialize natively.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any, *, sort_keys: bool = False) -> bytes:
    option = _OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS
    return orjson.dumps(content, default=_fallback, option=option)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """An RFC 9457 problem document with the contract's `code` (and `errors` for validation)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE.format(code=code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(
        dumps(body), status_code=status, headers=headers, media_type="application/problem+json"
    )
