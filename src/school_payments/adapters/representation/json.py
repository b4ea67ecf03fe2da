"""Serialising to JSON: models through their own serializer, plain data through orjson."""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound="ResponseModel")

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _fallback(value: Any) -> str:
    # asyncpg hands back its own uuid.UUID subclass, which orjson does not serialize natively.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any, *, sort_keys: bool = False) -> bytes:
    """Plain data (dicts, lists, ids, dates, UTC `Z` timestamps) as compact UTF-8 JSON."""
    option = _OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS
    return orjson.dumps(content, default=_fallback, option=option)


class ResponseModel(BaseModel):
    """A response shape: built from domain objects and read models by attribute, sent as is."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls: type[M], value: object, *, day: date | None = None) -> M:
        """The shape of `value`; `day` is the day its invoices are read on (status, overdue)."""
        return cls.model_validate(value, from_attributes=True, context={"day": day})

    def to_json(self) -> bytes:
        """The bytes the API sends for this shape (JSON names as documented, aliases included)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True)
