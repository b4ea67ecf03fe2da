"""Keyset pages in creation order (ids are UUIDv7, so id order is creation order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_LINES = 500
"""The most invoice lines one student statement lists; `lines_cursor` continues."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: UUID | None = None
    """Return items created after the one with this id."""


@dataclass(frozen=True, slots=True)
class LinesRequest:
    """A page of a student statement's invoice lines (totals always cover every invoice)."""

    limit: int = MAX_LINES
    after: UUID | None = None
    """List the lines of invoices created after the one with this id."""
    as_of: date | None = None
    """The `as_of` the request named: a continuation is valid only with the same one."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_after: UUID | None
    """The id to continue after, or None on the last page."""
