"""Idempotency records: a retried request replays its first response instead of acting twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The response a request produced, kept so that a retry gets it byte for byte."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """Held by the one request that may act under a key; `token` proves it still holds it."""

    scope: str
    key: str
    token: UUID


@dataclass(frozen=True, slots=True)
class Claimed:
    claim: IdempotencyClaim


@dataclass(frozen=True, slots=True)
class Replay:
    response: StoredResponse


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was first used for another request (method, path or body)."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key has not finished yet."""


ClaimResult = Claimed | Replay | KeyReused | InProgress


class IdempotencyStore(Protocol):
    """Claims keys in short transactions of their own, so concurrent duplicates see each other."""

    async def claim(
        self,
        *,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        retention: timedelta,
        lock_timeout: timedelta,
    ) -> ClaimResult:
        """Exactly one concurrent caller gets `Claimed`; the others learn why they did not."""
        ...

    async def release(self, claim: IdempotencyClaim) -> None:
        """Forgets an unfinished claim so a retry may act (no-op if the work was committed)."""
        ...

    async def record(self, claim: IdempotencyClaim, response: StoredResponse) -> None:
        """Stores a refusal (a 409) for replay; the refused work itself changed nothing."""
        ...

    async def purge_expired(self, now: datetime, retention: timedelta) -> int:
        """Deletes records older than the retention period; returns how many."""
        ...


class IdempotencyRecorder(Protocol):
    """Completes a claim inside the unit of work, so the response commits with the work."""

    async def complete(self, claim: IdempotencyClaim, response: StoredResponse) -> None:
        """Raises IdempotencyClaimLostError if the claim was taken over meanwhile."""
        ...
