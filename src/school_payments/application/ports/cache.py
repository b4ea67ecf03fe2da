"""The statement cache: entries under versioned keys, so a write makes older entries unreachable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal, Protocol
from uuid import UUID


class CacheOutcome(StrEnum):
    HIT = "HIT"
    """The stored entry was served."""
    MISS = "MISS"
    """The cache answered and had nothing current."""
    BYPASS = "BYPASS"
    """The cache was not consulted or could not answer (disabled, breaker open, an error)."""


@dataclass(frozen=True, slots=True)
class StatementKey:
    """Which statement: its owner and the query parameters that shape it."""

    owner: Literal["school", "student"]
    owner_id: UUID
    variant: str
    """The parameters (as-of day, page) in a canonical text form."""


@dataclass(frozen=True, slots=True)
class CachedStatement:
    school_id: UUID
    """The school the statement belongs to: a HIT is still checked against the caller's scope."""
    day: date
    """The calendar day the statement was judged on."""
    timezone: str
    """The school's time zone, to tell when "today" has moved on."""
    body: bytes


@dataclass(frozen=True, slots=True)
class CacheLookup:
    outcome: CacheOutcome
    entry: CachedStatement | None = None
    slot: str | None = None
    """Where to store a fresh entry: the key under the version read *before* the database was."""


CacheState = Literal["ok", "unavailable", "disabled"]
BreakerState = Literal["CLOSED", "OPEN", "HALF_OPEN"]


@dataclass(frozen=True, slots=True)
class CacheHealth:
    state: CacheState
    circuit_breaker: BreakerState


class StatementCache(Protocol):
    """Versioned statement entries. Never raises and never blocks long: failures become BYPASS."""

    async def lookup(self, key: StatementKey) -> CacheLookup: ...

    async def store(self, slot: str, entry: CachedStatement) -> None: ...

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        """Moves the owners' versions on, after a commit; best effort, never raises."""
        ...

    async def health(self) -> CacheHealth: ...

    async def close(self) -> None: ...


class RevocationFeed(Protocol):
    """Revocations made by other instances, heard as they happen while the feed is listening."""

    def session(self) -> int | None:
        """The current unbroken stretch of listening, or None while revocations may be missed."""
        ...

    async def announce(self, key_id: UUID) -> None:
        """Tells every other instance that a key was revoked; best effort, never raises."""
        ...
