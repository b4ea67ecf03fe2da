"""`Idempotency-Key` on creating POSTs: the first request acts, its retries replay its response."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from starlette.responses import Response

from school_payments.adapters.web.problems import error_response
from school_payments.adapters.web.responses import JsonResponse, problem
from school_payments.application.caller import Caller
from school_payments.application.idempotency import IdempotencyGuard, Idempotent, fingerprint
from school_payments.application.ports.idempotency import (
    Claimed,
    InProgress,
    KeyReused,
    Replay,
    StoredResponse,
)
from school_payments.domain.errors import BusinessRuleError, InvalidValueError

log = logging.getLogger(__name__)
R = TypeVar("R")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def created(body: Mapping[str, Any], location: str) -> StoredResponse:
    return StoredResponse(201, bytes(JsonResponse(dict(body)).body), (("location", location),))


def as_response(stored: StoredResponse, *, replayed: bool = False) -> Response:
    headers = dict(stored.headers)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    media = "application/problem+json" if stored.status >= 400 else "application/json"
    return Response(stored.body, status_code=stored.status, headers=headers, media_type=media)


def _stored(response: Response) -> StoredResponse:
    return StoredResponse(response.status_code, bytes(response.body), ())


async def _quietly(operation: Awaitable[None], what: str) -> None:
    # Bookkeeping after the real outcome is known must not replace that outcome with another error.
    try:
        await asyncio.shield(operation)
    except Exception as error:  # noqa: BLE001 - logged; the claim expires by itself
        log.warning(
            "idempotency bookkeeping failed", extra={"step": what, "error": type(error).__name__}
        )


async def run_idempotent(
    request: Request,
    caller: Caller,
    *,
    guard: IdempotencyGuard,
    body: Any,
    execute: Callable[[Idempotent[R] | None], Awaitable[R]],
    respond: Callable[[R], StoredResponse],
) -> Response:
    """Runs a creating command at most once per (caller, key), replaying the first response."""
    key = request.headers.get(HEADER)
    if key is None:
        return as_response(respond(await execute(None)))
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidValueError(HEADER, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    claim = await guard.claim(caller, key, fingerprint(request.method, request.url.path, body))
    if isinstance(claim, Replay):
        return as_response(claim.response, replayed=True)
    if isinstance(claim, KeyReused):
        return problem(
            422,
            "idempotency_key_reused",
            "Unprocessable Content",
            f"this {HEADER} was already used for a different request",
        )
    if isinstance(claim, InProgress):
        return problem(
            409,
            "idempotency_key_in_use",
            "Conflict",
            f"a request with this {HEADER} is still being processed; retry later",
        )
    assert isinstance(claim, Claimed)
    try:
        result = await execute(Idempotent(claim.claim, respond))
    except BusinessRuleError as refusal:
        response = error_response(refusal)
        await _quietly(guard.record_refusal(claim.claim, _stored(response)), "record refusal")
        return response
    except BaseException:
        # Nothing was committed (or the commit's fate is unknown, and then the record written in
        # the same transaction decides): let a retry act.
        await _quietly(guard.release(claim.claim), "release")
        raise
    return as_response(respond(result))
