"""Keyset pages in creation order (ids are UUIDv7, so id order is creation order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: UUID | None = None
    """Return items created after the one with this id."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_after: UUID | None
    """The id to continue after, or None on the last page."""
