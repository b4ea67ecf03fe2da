"""Values the application keeps for later, as JSON: idempotency outcomes and event subjects.

An idempotency outcome holds the command's result (domain objects and read models: dataclasses
of ids, times, money and enums) or its refusal (a domain error), so that a retry gets back the
very same result; an event holds the resource as it stood when it changed, rendered later by the
representation models exactly as the API showed it. Each value is written with a tag naming
its type, and only types of the domain and the application's results are read back: a record is
data, never code to run.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from datetime import date, datetime
from types import ModuleType
from typing import Any, cast
from uuid import UUID

import orjson

from school_payments.application import api_keys, read_models
from school_payments.application.ports import idempotency_store
from school_payments.domain import credit, currency, entities, errors, money


def _types_of(modules: Iterable[ModuleType]) -> dict[str, type]:
    return {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__
    }


_KNOWN = _types_of(
    [entities, credit, money, currency, errors, read_models, api_keys, idempotency_store]
)


def _encode(value: Any) -> Any:  # noqa: PLR0911 - one return for each kind of value
    # bool before int (it is one); exact types, so a subclass never passes for its base.
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item) for item in value]}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, enum.Enum):
        return {"$enum": _name(type(value)), "value": value.value}
    if isinstance(value, BaseException):
        state = {key: _encode(item) for key, item in vars(value).items()}
        return {"$error": _name(type(value)), "args": _encode(list(value.args)), "state": state}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": _name(type(value)), "fields": fields}
    raise TypeError(f"an outcome cannot hold a {type(value).__name__}")


def _name(cls: type) -> str:
    if _KNOWN.get(cls.__name__) is not cls:
        raise TypeError(f"{cls.__qualname__} is not a type an outcome may hold")
    return cls.__name__


def _error(value: dict[str, Any]) -> BaseException:
    cls = cast(type[BaseException], _KNOWN[value["$error"]])
    error = BaseException.__new__(cls)
    BaseException.__init__(error, *_decode(value["args"]))
    vars(error).update({key: _decode(item) for key, item in value["state"].items()})
    return error


def _instance(value: dict[str, Any]) -> Any:
    return _KNOWN[value["$type"]](**{key: _decode(item) for key, item in value["fields"].items()})


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "$tuple": lambda value: tuple(_decode(item) for item in value["$tuple"]),
    "$uuid": lambda value: UUID(value["$uuid"]),
    "$datetime": lambda value: datetime.fromisoformat(value["$datetime"]),
    "$date": lambda value: date.fromisoformat(value["$date"]),
    "$enum": lambda value: _KNOWN[value["$enum"]](value["value"]),
    "$error": _error,
    "$type": _instance,
}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = next(key for key in value if key.startswith("$"))
    return _DECODERS[tag](value)


def encode_value(value: object) -> bytes:
    """A domain object or read model (or a structure of them) as tagged JSON."""
    return orjson.dumps(_encode(value))


def decode_value(data: bytes) -> object:
    """The value `encode_value` wrote; only domain and application types are rebuilt."""
    return _decode(orjson.loads(data))


def encode_outcome(outcome: idempotency_store.Outcome[object]) -> bytes:
    return orjson.dumps(_encode(outcome))


def decode_outcome(data: bytes) -> idempotency_store.Outcome[object]:
    outcome = _decode(orjson.loads(data))
    if not isinstance(outcome, idempotency_store.Created | idempotency_store.Refused):
        raise TypeError("an idempotency record holds no outcome")
    return outcome
