"""Creating POSTs: `201 Created` with `Location`, at most once per `Idempotency-Key`.

The application's idempotency guard decides whether this request acts or replays an earlier
one's outcome; either way the outcome is rendered here, once, by the resource's response model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.responses import Response

from school_payments.adapters.representation.json import ResponseModel
from school_payments.adapters.web.problems import problem_response
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.services import ApiServices
from school_payments.application.caller import Caller
from school_payments.application.idempotency_guard import fingerprint
from school_payments.application.ports.idempotency_store import IdempotencyClaim, Refused
from school_payments.domain.errors import InvalidValueError

R = TypeVar("R")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidValueError(HEADER, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    return key


async def create(
    request: Request,
    caller: Caller,
    services: ApiServices,
    *,
    body: Any,
    act: Callable[[IdempotencyClaim | None], Awaitable[R]],
    shape: Callable[[R], ResponseModel],
    location: Callable[[R], str],
) -> Response:
    """Runs `act` (the command), or replays the outcome of the first request with this key.

    `shape` turns the command's result into its response model, `location` names it.
    """
    key = idempotency_key(request)
    if key is None:
        result = await act(None)
        return _created(shape(result), location(result))
    done = await services.idempotency.run(
        caller, key, fingerprint(request.method, request.url.path, body), act
    )
    replayed = {"Idempotent-Replayed": "true"} if done.replayed else {}
    if isinstance(done.outcome, Refused):
        return problem_response(done.outcome.error, replayed)
    value = done.outcome.value
    return _created(shape(value), location(value), replayed)


def _created(
    model: ResponseModel, location: str, headers: dict[str, str] | None = None
) -> Response:
    return JsonResponse(model, status_code=201, headers={"Location": location, **(headers or {})})
