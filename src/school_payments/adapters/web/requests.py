"""Reading requests: the caller, path ids, bodies and list parameters, each with the contract's
error (400 malformed JSON, 404 for a path id that is not a UUID, 422 for a bad value)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel, ValidationError

from school_payments.adapters.representation.cursors import decode_cursor
from school_payments.adapters.web.errors import (
    BodyValidationError,
    MalformedJsonError,
    pydantic_errors,
)
from school_payments.adapters.web.services import ApiServices
from school_payments.application.caller import Caller
from school_payments.application.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from school_payments.domain.errors import InvalidValueError, NotFoundError

M = TypeVar("M", bound=BaseModel)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool,
# which cost a third of a cached statement's time.


async def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


async def caller(request: Request) -> Caller:
    """The authenticated caller (the auth middleware has already refused everyone else)."""
    found: Caller = request.scope["state"]["caller"]
    return found


async def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Operator-only routes answer 403 before the body is even read (the contract's order)."""
    who.ensure_operator()
    return who


ServicesDep = Annotated[ApiServices, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]
OperatorDep = Annotated[Caller, Depends(operator)]


def path_id(value: str, resource: str) -> UUID:
    """Ids are opaque: a path id that is not a UUID names nothing, so it is a 404."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(resource, value) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def json_body(request: Request) -> Any:
    """The request body as JSON (400 when empty or not JSON; NaN and Infinity are not JSON)."""
    raw = await request.body()
    if not raw.strip():
        raise MalformedJsonError("the request body is empty; it must be a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses integers beyond 64 bits; let those reach validation (a 422) instead
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedJsonError("the request body is not valid JSON") from None


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BodyValidationError(
            pydantic_errors(error.errors(), ("body",)), "the request body is not valid"
        ) from None


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor))


PageDep = Annotated[PageRequest, Depends(page_request)]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


async def as_of_param(
    as_of: Annotated[
        str | None,
        Query(description="YYYY-MM-DD: the statement as it stood at the end of that day"),
    ] = None,
) -> date | None:
    if as_of is None:
        return None
    try:
        if not _DATE.fullmatch(as_of):
            raise ValueError(as_of)
        return date.fromisoformat(as_of)
    except ValueError:
        raise InvalidValueError("as_of", "as_of must be a date YYYY-MM-DD") from None


AsOfDep = Annotated[date | None, Depends(as_of_param)]
