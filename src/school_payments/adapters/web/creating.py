"""Creating POSTs: `201 Created` with `Location`, at most once per `Idempotency-Key`.

The application's idempotency guard decides whether this request acts or replays an earlier
one's outcome; either way the outcome is rendered here, once, by the resource's response model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from uuid import UUID

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

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidValueError(HEADER, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    return key


class Identified(Protocol):
    @property
    def id(self) -> UUID: ...


C = TypeVar("C")
R = TypeVar("R", bound=Identified)
Handler = Callable[[C, Caller, IdempotencyClaim | None], Awaitable[R]]
"""A creating command's handler: the command, who asks, and the claim it commits with."""


async def create(
    request: Request,
    caller: Caller,
    services: ApiServices,
    *,
    body: Any,
    handler: Handler[C, R],
    command: C,
    shape: type[ResponseModel],
    location: str,
) -> Response:
    """Runs the command, or replays the outcome of the first request with this key.

    `shape` is the result's response model; `location` its URL, `{id}` standing for its id.
    """

    async def act(claim: IdempotencyClaim | None) -> R:
        return await handler(command, caller, claim)

    key = idempotency_key(request)
    if key is None:
        return _created(shape, await act(None), location)
    done = await services.idempotency.run(
        caller, key, fingerprint(request.method, request.url.path, body), act
    )
    replayed = {"Idempotent-Replayed": "true"} if done.replayed else {}
    if isinstance(done.outcome, Refused):
        return problem_response(done.outcome.error, replayed)
    return _created(shape, done.outcome.value, location, replayed)


def _created(
    shape: type[ResponseModel],
    result: Identified,
    location: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return JsonResponse(
        shape.of(result),
        status_code=201,
        headers={"Location": location.format(id=result.id), **(headers or {})},
    )
