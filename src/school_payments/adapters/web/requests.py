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
    UnsupportedMediaTypeError,
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


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _key_count(value: Any) -> int:
    """How many keys the parsed objects hold; -1 when a float is among the values (orjson
    reads an integer beyond 64 bits as a float, which must reach validation as an integer)."""
    if isinstance(value, dict):
        total = len(value)
        for item in value.values():
            if type(item) in _LEAVES:
                continue
            inner = _key_count(item)
            if inner < 0:
                return -1
            total += inner
        return total
    if isinstance(value, list):
        total = 0
        for item in value:
            inner = _key_count(item)
            if inner < 0:
                return -1
            total += inner
        return total
    return -1 if isinstance(value, float) else 0


_LEAVES = frozenset({str, int, bool, type(None)})


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise MalformedJsonError(
                f"the request body names {key!r} twice in one object; send each field once"
            )
        found[key] = value
    return found


def _parse(raw: bytes) -> Any:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = _NOT_PARSED
    # orjson keeps the last of duplicate keys silently. A key is a string followed by a colon,
    # with nothing between them when no quote is followed by whitespace: then the text has at
    # least as many `":` as keys, and if the parsed objects hold as many keys as that, none came
    # twice. Only otherwise (a duplicate, `":` inside a string, `"a" : 1`, a float) is the body
    # parsed again, slowly, with a check of every object's keys (a few µs more).
    if (
        parsed is not _NOT_PARSED
        and _QUOTE_THEN_SPACE.search(raw) is None
        and raw.count(b'":') == _key_count(parsed)
    ):
        return parsed
    try:  # also reached for integers beyond 64 bits, which orjson refuses: validation says 422
        return json.loads(
            raw, parse_constant=_reject_constant, object_pairs_hook=_without_duplicates
        )
    except MalformedJsonError:
        raise
    except (ValueError, RecursionError):
        raise MalformedJsonError("the request body is not valid JSON") from None


_NOT_PARSED = object()
_QUOTE_THEN_SPACE = re.compile(rb'"[ \t\r\n]')


async def json_body(request: Request) -> Any:
    """The request body as JSON: 415 when it says it is something else, 400 when it is empty,
    not JSON (NaN and Infinity are not JSON) or names a key twice in one object."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaTypeError()
    raw = await request.body()
    if not raw.strip():
        raise MalformedJsonError("the request body is empty; it must be a JSON object")
    return _parse(raw)


async def read_body(request: Request, model: type[M]) -> tuple[Any, M]:
    """The body as JSON (what idempotency fingerprints) and validated as `model`."""
    data = await json_body(request)
    return data, validated(model, data)


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
