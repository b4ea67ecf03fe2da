"""JSON responses: a response model through its own serializer, other data through orjson."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from school_payments.adapters.representation.json import ResponseModel, dumps


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, ResponseModel):
            return content.to_json()
        return dumps(content)
