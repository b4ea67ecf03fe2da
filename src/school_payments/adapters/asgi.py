"""Small helpers for the pure ASGI middlewares of the web and observability adapters."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` in lower case, as ASGI gives them)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
